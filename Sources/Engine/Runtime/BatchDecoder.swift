import Foundation
import ImageIO

/// One image ready for the batch engine: decoded and preprocessed by the pipeline.
struct PreparedImage {
    let index: Int
    let name: String
    let options: DecodingOptions
    /// CHW floats from `CLIPPreprocessor`, or the decoded image when the caller wants the
    /// one-image path's extras (`captureIntermediates`).
    let pixels: [Float]
    let image: RGBImage?
    /// Milliseconds spent decoding and preprocessing (in the pipeline's thread).
    let decodeImage: Double
    let preprocess: Double
    /// What the decoder noticed about the image (`CaptionResult.warnings`).
    var warnings: [String] = []
}

/// What the batch engine pulls from its source.
enum BatchInput {
    /// An image to caption.
    case image(PreparedImage)
    /// A request whose outcome is already known (its image could not be read).
    case done(CaptionOutcome)
    /// Nothing ready yet (only when the engine asked not to wait).
    case notReady
    /// The source is exhausted.
    case end
}

/// Continuous batching on one session: the decoder runs the rows of every caption in flight in
/// one step, each row at its own cached length and position; when a caption ends its rows are
/// released and the next images' prefill joins the running batch (docs/ENGINE.md, "Batching").
/// Decoder graphs without per-row inputs (files written before) run in lockstep instead: a
/// batch of images starts together and shrinks as its captions end.
///
/// Each image is decoded by its own `CaptionProgram` (the same rules, with its own seeded
/// generator, as the one-image path), so its captions do not depend on the batch.
final class BatchDecoder {
    private let session: CaptionSession
    /// Images in flight at most.
    private let imageLimit: Int
    private var cache: KVCache { session.cache }

    private struct Job {
        let image: PreparedImage
        var program: any CaptionProgram
        /// Cache slots of its rows (row `i` is slot `slots[i]`), and the tokens they take next.
        var slots: [Int]
        var tokens: [Int] = []
        var timings: PhaseTimings
        var decodeStart: UInt64 = 0
        var steps = 0
    }
    private var active: [Job] = []

    init(session: CaptionSession, batchSize: Int) {
        self.session = session
        imageLimit = max(1, min(batchSize, session.cache.slots))
    }

    private func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    private func ms(_ a: UInt64, _ b: UInt64) -> Double { Double(b &- a) / 1e6 }

    /// Captions everything `next` yields; `next(wait)` blocks for input only when `wait` is set
    /// (the engine waits only when it has nothing to compute). Outcomes are emitted as captions
    /// finish, in any order.
    func run(next: (_ wait: Bool) -> BatchInput, emit: (CaptionOutcome) -> Void) {
        let model = session.model
        cache.clear()
        active = []
        var held: PreparedImage? = nil     // pulled, but its rows do not fit yet
        var ended = false
        while true {
            // Admission: lockstep graphs only start images when nothing is in flight.
            var admitted: [PreparedImage] = []
            var rows = active.reduce(0) { $0 + $1.program.rows }
            while !ended, model.decoderInputs.perRow || active.isEmpty, active.count + admitted.count < imageLimit {
                let input: BatchInput = held.map { .image($0) } ?? next(active.isEmpty && admitted.isEmpty)
                held = nil
                guard case .image(let image) = input else {
                    if case .done(let outcome) = input { emit(outcome); continue }
                    if case .end = input { ended = true }
                    break
                }
                if image.options.captureIntermediates || image.image != nil {
                    // Pixels, embeddings and logits are captured by the one-image path.
                    emit(oneImage(image))
                    continue
                }
                let need = Decoders.program(for: image.options, config: model.config, tokenizer: model.tokenizer, room: 1).rows
                if need > cache.slots {
                    emit(CaptionOutcome(index: image.index, name: image.name, result: .failure(ExecutorError.capacityExceeded(
                        detail: "\(need) candidates exceed the model's batch capacity \(cache.slots) (load with a larger maxBatch or batchSize)"))))
                    continue
                }
                if rows + need > cache.slots { held = image; break }
                rows += need
                admitted.append(image)
            }
            if !admitted.isEmpty { start(admitted, emit: emit) }
            if active.isEmpty {
                if ended && held == nil { break }
                continue
            }
            step(emit: emit)
        }
        cache.clear()
    }

    /// Captions one image on the one-image path of this session (nothing is in flight then).
    private func oneImage(_ image: PreparedImage) -> CaptionOutcome {
        let model = session.model
        let result = Result<CaptionResult, any Error> {
            var r = try model.caption(image: image.image!, options: image.options)
            r.timings.decodeImage = image.decodeImage
            r.timings.total += image.decodeImage
            r.warnings = image.warnings
            return r
        }
        return CaptionOutcome(index: image.index, name: image.name, result: result)
    }

    /// Encodes and maps `images`, prefills them together into new slots after the ones in use,
    /// and lets every program read its first logits.
    private func start(_ images: [PreparedImage], emit: (CaptionOutcome) -> Void) {
        let model = session.model, c = model.config
        var shared = PhaseTimings()
        var prefixes: [Float]
        do {
            prefixes = try session.prefixes(of: images.map(\.pixels), timings: &shared)
        } catch {
            for image in images { emit(CaptionOutcome(index: image.index, name: image.name, result: .failure(error))) }
            return
        }
        // One image whose embedding or prefix holds NaN/infinity fails alone, naming the graph.
        var images = images
        let prefixWidth = c.prefixLength * c.hiddenSize
        var kept: [Float] = []
        var keptImages: [PreparedImage] = []
        for (i, image) in images.enumerated() {
            let ok = prefixes.withUnsafeBufferPointer { FiniteCheck.allFinite($0.baseAddress! + i * prefixWidth, count: prefixWidth) }
            if ok {
                kept.append(contentsOf: prefixes[(i * prefixWidth)..<((i + 1) * prefixWidth)])
                keptImages.append(image)
            } else {
                let graph = session.embeddingsFinite.indices.contains(i) && !session.embeddingsFinite[i] ? "image_encoder" : "mapper"
                emit(CaptionOutcome(index: image.index, name: image.name,
                                    result: .failure(NonFiniteValuesError(graph: graph, value: graph == "mapper" ? "prefix_embeddings" : "image_embedding"))))
            }
        }
        guard !keptImages.isEmpty else { return }
        images = keptImages
        prefixes = kept
        let jobs = images.map { image in
            var timings = shared
            timings.decodeImage = image.decodeImage
            timings.preprocess = image.preprocess
            let program = Decoders.program(for: image.options, config: c, tokenizer: model.tokenizer,
                                           room: model.maxContext - c.prefixLength)
            return Job(image: image, program: program, slots: [], timings: timings)
        }
        guard let slots = cache.allocate(jobs.count) else {
            for job in jobs { emit(failure(job, "no free KV-cache slot")) }
            return
        }
        let begin = now()
        let logits: TensorView
        do {
            let input = try session.decoder.inputBuffer(model.decoderInputs.embeds, shape: Shape(jobs.count, c.prefixLength, c.hiddenSize))
            prefixes.withUnsafeBytes { input.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            logits = try session.runDecoder(rows: jobs.count, positions: c.prefixLength, firstSlot: slots.lowerBound, profiler: nil)
        } catch {
            cache.release(Array(slots))
            for job in jobs { emit(CaptionOutcome(index: job.image.index, name: job.image.name, result: .failure(error))) }
            return
        }
        let prefillDone = now()
        let vocab = logits.shape.last
        var finishedSlots: [Int] = []
        for (j, slot) in slots.enumerated() {
            var job = jobs[j]
            job.timings.prefill = ms(begin, prefillDone)
            job.decodeStart = prefillDone
            job.slots = [slot]
            let row = UnsafePointer(logits.floats + j * vocab)
            guard FiniteCheck.allFinite(row, count: vocab) else {
                emit(nonFinite(job, "logits after the prefix"))
                finishedSlots.append(slot)
                continue
            }
            // After the prefill every row of the image reads the prefix's logits.
            let next = job.program.advance(logits: { _ in row }, vocab: vocab)
            if case .feed(let tokens, _) = next {
                guard let more = cache.allocate(tokens.count - 1) else {
                    emit(failure(job, "no free KV-cache slots for \(tokens.count) rows"))
                    finishedSlots.append(slot)
                    continue
                }
                for s in more { cache.copy(from: slot, to: s) }
                job.slots += Array(more)
                job.tokens = tokens
                active.append(job)
            } else if case .finished(let captions) = next {
                emit(finish(job, captions))
                finishedSlots.append(slot)
            }
        }
        release(finishedSlots)
    }

    /// One decode step over every row in flight; programs read their rows' logits.
    private func step(emit: (CaptionOutcome) -> Void) {
        let n = cache.active
        var tokens = [Int](repeating: 0, count: n)
        for job in active {
            for (i, s) in job.slots.enumerated() { tokens[s] = job.tokens[i] }
        }
        let logits: TensorView
        do {
            logits = try session.step(tokens: tokens, profiler: nil)
        } catch {
            for job in active { emit(CaptionOutcome(index: job.image.index, name: job.image.name, result: .failure(error))) }
            active = []
            cache.clear()
            return
        }
        let vocab = logits.shape.last
        let base = UnsafePointer(logits.floats)
        var freed: [Int] = []
        var running: [Job] = []
        for var job in active {
            job.steps += 1
            let slots = job.slots
            guard slots.allSatisfy({ FiniteCheck.allFinite(base + $0 * vocab, count: vocab) }) else {
                emit(nonFinite(job, "logits at decode step \(job.steps)"))
                freed += job.slots
                continue
            }
            let next = job.program.advance(logits: { base + slots[$0] * vocab }, vocab: vocab)
            switch next {
            case .finished(let captions):
                emit(finish(job, captions))
                freed += job.slots
            case .feed(let tokens, let parents):
                // Rows follow their parents (beam search); a program may use fewer or more rows.
                if tokens.count > job.slots.count {
                    guard let more = cache.allocate(tokens.count - job.slots.count) else {
                        emit(failure(job, "no free KV-cache slots for \(tokens.count) rows"))
                        freed += job.slots
                        continue
                    }
                    job.slots += Array(more)
                }
                if let parents {
                    cache.reorder(Array(job.slots.prefix(parents.count)), from: parents.map { slots[$0] })
                }
                if tokens.count < job.slots.count {
                    freed += job.slots[tokens.count...]
                    job.slots.removeLast(job.slots.count - tokens.count)
                }
                job.tokens = tokens
                running.append(job)
            }
        }
        active = running
        release(freed)
    }

    /// Releases slots and follows the moves that keep the slots in use contiguous.
    private func release(_ freed: [Int]) {
        guard !freed.isEmpty else { return }
        for move in cache.release(freed) {
            for j in active.indices {
                if let i = active[j].slots.firstIndex(of: move.from) { active[j].slots[i] = move.to; break }
            }
        }
    }

    /// An internal limit hit by one job (the admission's row count should prevent it).
    private func failure(_ job: Job, _ detail: String) -> CaptionOutcome {
        CaptionOutcome(index: job.image.index, name: job.image.name,
                       result: .failure(ExecutorError.capacityExceeded(detail: detail + " (batch capacity \(cache.slots) rows)")))
    }

    /// One image's rows hold NaN or infinity: that image fails (the others' rows are independent).
    private func nonFinite(_ job: Job, _ value: String) -> CaptionOutcome {
        CaptionOutcome(index: job.image.index, name: job.image.name,
                       result: .failure(NonFiniteValuesError(graph: "decoder", value: value)))
    }

    private func finish(_ job: Job, _ captions: [Caption]) -> CaptionOutcome {
        var timings = job.timings
        timings.decode = ms(job.decodeStart, now())
        timings.decodeSteps = job.steps
        timings.total = timings.decodeImage + timings.preprocess + timings.imageEncoder + timings.mapper + timings.prefill + timings.decode
        var result = CaptionResult(captions: captions, timings: timings, intermediates: nil)
        result.warnings = job.image.warnings
        return CaptionOutcome(index: job.image.index, name: job.image.name, result: .success(result))
    }
}
