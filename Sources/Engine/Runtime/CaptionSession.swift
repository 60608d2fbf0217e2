import CCMFormat
import Foundation
import ImageIO

/// The runners (arenas, KV cache) of the four graphs and the decode buffers, all allocated once
/// and reused for every image this session captions: one image at a time (`caption`), or many
/// through `BatchDecoder`.
final class CaptionSession {
    let model: CaptionModel
    let context: ExecutionContext
    let imageEncoder: GraphRunner
    let mapper: GraphRunner
    let tokenEmbedding: GraphRunner
    let decoder: GraphRunner
    let preprocessor: CLIPPreprocessor
    /// The decoder's KV cache: one slot per decoder row.
    var cache: KVCache { decoder.cache }
    /// Whether this session has mapped the mapper's and the decoder's pages (per-image residency
    /// maps them once; per-phase, every caption).
    private var mapperMapped = false
    private var decoderMapped = false

    init(model: CaptionModel) throws {
        self.model = model
        context = ExecutionContext(pool: ThreadPool(threads: model.options.threads,
                                                    watchForWork: model.backend.poolWatchesForWork))
        imageEncoder = try GraphRunner(graph: model.imageEncoder)
        mapper = try GraphRunner(graph: model.mapper)
        tokenEmbedding = try GraphRunner(graph: model.tokenEmbedding)
        decoder = try GraphRunner(graph: model.decoder)
        let c = model.config
        preprocessor = CLIPPreprocessor(size: c.imageSize, mean: c.mean, std: c.std)
    }

    /// Maps pages ahead of their phase, over the pool's threads.
    private func populate(_ pages: TensorPages) { overPool(pages) { model.file.populate($0) } }

    /// Releases pages after their phase, over the pool's threads.
    private func release(_ pages: TensorPages) { overPool(pages) { model.file.release($0) } }

    /// Runs a mapping operation on `pages` split over the pool's threads: both mapping and
    /// releasing are page-table work in the kernel, which parallelises (on one thread here
    /// ~5 ms to map 168 MiB and ~2.5 ms to release it, on the image encoder's critical path).
    private func overPool(_ pages: TensorPages, _ operation: (TensorPages) -> Void) {
        let parts = pages.split(into: context.pool.threads)
        if parts.count == 1 { operation(pages); return }
        context.pool.parallelFor(parts.count) { operation(parts[$0]) }
    }

    /// Runs `graph` with its weights streamed through memory in `stages` (each stage's pages
    /// mapped as it begins, released when it ends, all of them also when the run throws).
    /// `nil` stages: the weights stay mapped.
    private func run(_ graph: GraphRunner, streaming stages: WeightStages?, symbols: SymbolBindings,
                     profiler: Profiler?) throws {
        guard let stages else { return try graph.run(symbols: symbols, context: context, profiler: profiler) }
        var released = 0
        defer { for s in released..<stages.count { release(stages.releaseAtEnd[s]) } }
        try graph.run(symbols: symbols, context: context, profiler: profiler, stageStarts: stages.firstNode) { s in
            for done in released..<s { release(stages.releaseAtEnd[done]) }
            released = s
            populate(stages.mapAtStart[s])
        }
    }

    /// Maps `pages` ahead of their phase: every caption under per-phase residency (which
    /// releases them after the phase), once per session under per-image (which keeps them).
    private func mapAhead(_ pages: TensorPages?, mapped: inout Bool) {
        guard let pages, model.options.residency == .perPhase || !mapped else { return }
        populate(pages)
        mapped = true
    }

    private func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    private func ms(_ a: UInt64, _ b: UInt64) -> Double { Double(b - a) / 1e6 }

    /// Runs preprocessing, the image encoder and the mapper for one image; fills `timings`.
    /// Afterwards the prefix is readable in the mapper's output until the next encode.
    private func encode(image: RGBImage, timings: inout PhaseTimings, profiler: Profiler?,
                capture: Bool) throws -> Intermediates? {
        let c = model.config
        let begin = now()
        var phase = profiler?.beginPhase("preprocess")
        let pixelShape = Shape(1, 3, c.imageSize, c.imageSize)
        let pixels = try imageEncoder.inputBuffer(0, shape: pixelShape).assumingMemoryBound(to: Float.self)
        preprocessor.process(image, into: UnsafeMutableBufferPointer(start: pixels, count: pixelShape.elementCount))
        let t1 = now()
        if let phase { profiler?.endPhase("preprocess", start: phase) }
        timings.preprocess = ms(begin, t1)

        // Copy the pixels now: the encoder's arena reuses the input's memory once it is consumed.
        let pixelCopy = capture ? Array(UnsafeBufferPointer(start: pixels, count: pixelShape.elementCount)) : []

        let single = SymbolBindings(B: 1, T: 1, nPast: 0, maxCtx: model.maxContext)
        phase = profiler?.beginPhase("image_encoder")
        try run(imageEncoder, streaming: model.encoderStages, symbols: single, profiler: profiler)
        let embedding = imageEncoder.output(0)
        try FiniteCheck.require(embedding, graph: "image_encoder", value: "image_embedding")
        let t2 = now()
        if let phase { profiler?.endPhase("image_encoder", start: phase) }
        timings.imageEncoder = ms(t1, t2)

        phase = profiler?.beginPhase("mapper")
        let mapperInput = try mapper.inputBuffer(0, shape: embedding.shape)
        mapperInput.copyMemory(from: embedding.data, byteCount: embedding.byteCount)
        mapAhead(model.mapperPages, mapped: &mapperMapped)
        try mapper.run(symbols: single, context: context, profiler: profiler)
        if let pages = model.mapperPages, model.options.residency == .perPhase { release(pages) }
        let prefix = mapper.output(0)
        try FiniteCheck.require(prefix, graph: "mapper", value: "prefix_embeddings")
        let t3 = now()
        if let phase { profiler?.endPhase("mapper", start: phase) }
        timings.mapper = ms(t2, t3)
        guard prefix.shape.rank == 3, prefix.shape[1] == c.prefixLength, prefix.shape[2] == c.hiddenSize else {
            throw ExecutorError.shapeMismatch(graph: "mapper", node: "(output)", detail: "prefix_embeddings is \(prefix.shape), expected [1, \(c.prefixLength), \(c.hiddenSize)]")
        }
        mapAhead(model.decoderPages, mapped: &decoderMapped)
        var intermediates: Intermediates? = nil
        if capture {
            intermediates = Intermediates(
                pixelValues: pixelCopy,
                imageSize: c.imageSize,
                imageEmbedding: Array(UnsafeBufferPointer(start: embedding.floats, count: embedding.elementCount)),
                prefixEmbeddings: Array(UnsafeBufferPointer(start: prefix.floats, count: prefix.elementCount)),
                prefixLength: c.prefixLength, logits: [])
        }
        return intermediates
    }

    /// Encodes and maps preprocessed images (CHW floats each, `CLIPPreprocessor`): one run of
    /// each graph per batch when its batch dimension is symbolic (weights read once for all
    /// the images), else one run per image. Returns the prefixes, `[n, P, D]` floats; `timings`
    /// get each image's share of the encoder's and the mapper's time.
    /// After `prefixes(of:)`: whether each image's embedding was finite.
    private(set) var embeddingsFinite: [Bool] = []

    func prefixes(of images: [[Float]], timings: inout PhaseTimings) throws -> [Float] {
        let c = model.config
        let n = images.count, pixelCount = 3 * c.imageSize * c.imageSize
        guard n > 0 else { return [] }
        let t0 = now()
        var embeddings: [Float] = []
        for (start, count) in chunks(n, graph: model.imageEncoder) {
            let input = try imageEncoder.inputBuffer(0, shape: Shape(count, 3, c.imageSize, c.imageSize)).assumingMemoryBound(to: Float.self)
            for i in 0..<count {
                guard images[start + i].count == pixelCount else {
                    throw ExecutorError.capacityExceeded(detail: "preprocessed image has \(images[start + i].count) values, expected \(pixelCount)")
                }
                images[start + i].withUnsafeBufferPointer { (input + i * pixelCount).update(from: $0.baseAddress!, count: pixelCount) }
            }
            try run(imageEncoder, streaming: model.encoderStages, symbols: SymbolBindings(B: count, T: 1, nPast: 0, maxCtx: model.maxContext), profiler: nil)
            let out = imageEncoder.output(0)
            embeddings.append(contentsOf: UnsafeBufferPointer(start: out.floats, count: out.elementCount))
        }
        let t1 = now()
        let width = embeddings.count / n
        // Which images' embeddings are finite: a NaN there is reported as the encoder's.
        embeddingsFinite = (0..<n).map { i in embeddings.withUnsafeBufferPointer { FiniteCheck.allFinite($0.baseAddress! + i * width, count: width) } }
        var prefixes: [Float] = []
        mapAhead(model.mapperPages, mapped: &mapperMapped)
        for (start, count) in chunks(n, graph: model.mapper) {
            let input = try mapper.inputBuffer(0, shape: Shape(count, width)).assumingMemoryBound(to: Float.self)
            embeddings.withUnsafeBufferPointer { input.update(from: $0.baseAddress! + start * width, count: count * width) }
            try mapper.run(symbols: SymbolBindings(B: count, T: 1, nPast: 0, maxCtx: model.maxContext), context: context, profiler: nil)
            let prefix = mapper.output(0)
            guard prefix.shape == Shape(count, c.prefixLength, c.hiddenSize) else {
                throw ExecutorError.shapeMismatch(graph: "mapper", node: "(output)", detail: "prefix_embeddings is \(prefix.shape), expected [\(count), \(c.prefixLength), \(c.hiddenSize)]")
            }
            prefixes.append(contentsOf: UnsafeBufferPointer(start: prefix.floats, count: prefix.elementCount))
        }
        if let pages = model.mapperPages, model.options.residency == .perPhase { release(pages) }
        mapAhead(model.decoderPages, mapped: &decoderMapped)
        let t2 = now()
        timings.imageEncoder = ms(t0, t1) / Double(n)
        timings.mapper = ms(t1, t2) / Double(n)
        return prefixes
    }

    /// Runs of `graph` covering `n` images: whole planned batches when its first input's batch
    /// is symbolic, else one image per run.
    private func chunks(_ n: Int, graph: CompiledGraph) -> [(start: Int, count: Int)] {
        let size = graph.inputs[0].shape.first == .symbol("B") ? max(1, graph.plannedSymbols.B) : 1
        return stride(from: 0, to: n, by: size).map { ($0, min(size, n - $0)) }
    }

    /// Runs preprocessing, the image encoder, the mapper and the prefill into cache slot 0;
    /// fills `timings`. Afterwards the encoder/mapper outputs and the prefill logits are readable.
    private func encodeAndPrefill(image: RGBImage, timings: inout PhaseTimings, profiler: Profiler?,
                                  capture: Bool) throws -> Intermediates? {
        let intermediates = try encode(image: image, timings: &timings, profiler: profiler, capture: capture)
        let t3 = now()
        // Prefill: the prefix runs once, for one row; candidates then share it.
        let phase = profiler?.beginPhase("prefill")
        let prefix = mapper.output(0)
        cache.clear()
        _ = cache.allocate(1)
        let decoderInput = try decoder.inputBuffer(model.decoderInputs.embeds, shape: prefix.shape)
        decoderInput.copyMemory(from: prefix.data, byteCount: prefix.byteCount)
        _ = try runDecoder(rows: 1, positions: model.config.prefixLength, firstSlot: 0, profiler: profiler)
        let t4 = now()
        if let phase { profiler?.endPhase("prefill", start: phase) }
        timings.prefill = ms(t3, t4)
        return intermediates
    }

    /// Runs the decoder over `rows` rows of `positions` new positions each (the embeddings
    /// already written into its `inputs_embeds` buffer) for cache slots `firstSlot..<firstSlot+rows`,
    /// each at its own cached length; then counts the new positions in the cache. Graphs without
    /// per-row inputs need every one of those slots at the same length. Returns the logits `[rows, V]`.
    func runDecoder(rows: Int, positions: Int, firstSlot: Int, profiler: Profiler?) throws -> TensorView {
        let slots = firstSlot..<(firstSlot + rows)
        let lengths = cache.lengths
        var longest = 0
        for s in slots { longest = max(longest, lengths[s]) }
        guard longest + positions <= model.maxContext else {
            throw ExecutorError.capacityExceeded(detail: "the caption reached the KV-cache capacity of \(model.maxContext) positions")
        }
        let inputs = model.decoderInputs
        if let p = inputs.positions {
            let ids = try decoder.inputBuffer(p, shape: Shape(rows, positions)).assumingMemoryBound(to: Int32.self)
            for (b, s) in slots.enumerated() {
                for t in 0..<positions { ids[b * positions + t] = Int32(lengths[s] + t) }
            }
        }
        if let l = inputs.pastLengths {
            let past = try decoder.inputBuffer(l, shape: Shape(rows)).assumingMemoryBound(to: Int32.self)
            for (b, s) in slots.enumerated() { past[b] = Int32(lengths[s]) }
        } else if slots.contains(where: { lengths[$0] != longest }) {
            throw ExecutorError.capacityExceeded(detail: "decoder rows hold different lengths but the graph has no past_lengths input (lockstep only)")
        }
        // n_past: every row's length (lockstep graphs); with per-row lengths the longest (the profiler's estimate).
        let symbols = SymbolBindings(B: rows, T: positions, nPast: longest, maxCtx: model.maxContext)
        try decoder.run(symbols: symbols, context: context, profiler: profiler, firstSlot: firstSlot)
        cache.advance(slots, by: positions)
        return decoder.output(0)
    }

    func caption(image: RGBImage, options: DecodingOptions, profiler: Profiler?) throws -> CaptionResult {
        var timings = PhaseTimings()
        let begin = now()
        var intermediates = try encodeAndPrefill(image: image, timings: &timings, profiler: profiler,
                                                 capture: options.captureIntermediates)
        let t4 = now()
        var stepper = DecoderStepper(session: self, profiler: profiler)
        var program = Decoders.program(for: options, config: model.config, tokenizer: model.tokenizer, room: stepper.remaining)
        var logits = stepper.prefillLogits()
        let vocab = logits.shape.last
        var first = true
        var captions: [Caption] = []
        while true {
            try FiniteCheck.require(logits, graph: "decoder", value: first ? "logits after the prefix" : "logits at decode step \(stepper.steps)")
            let rows = logits.floats
            let step = first ? program.advance(logits: { _ in UnsafePointer(rows) }, vocab: vocab)
                             : program.advance(logits: { UnsafePointer(rows + $0 * vocab) }, vocab: vocab)
            guard case .feed(let tokens, let parents) = step else {
                if case .finished(let done) = step { captions = done }
                break
            }
            // After the prefill every row is the prefix's: copy it; later, follow the parents.
            if first { stepper.expand(to: tokens.count) } else if let parents { stepper.reorder(parents) }
            logits = try stepper.advance(tokens)
            first = false
        }
        if options.captureIntermediates { intermediates?.logits = program.capturedLogits }
        if let pages = model.decoderPages, model.options.residency == .perPhase {
            release(pages)
        }
        let t5 = now()
        timings.decode = ms(t4, t5)
        timings.decodeSteps = stepper.steps
        timings.total = ms(begin, t5)
        return CaptionResult(captions: captions, timings: timings, intermediates: intermediates)
    }

    /// Feeds `tokens` one by one after the prefix and records the raw logits before each
    /// (teacher forcing): `logits[0]` follows the prefix, `logits[i]` follows `tokens[i-1]`.
    func teacherForced(image: RGBImage, tokens: [Int]) throws -> ForcedRun {
        var timings = PhaseTimings()
        let inter = try encodeAndPrefill(image: image, timings: &timings, profiler: nil, capture: true)!
        var stepper = DecoderStepper(session: self, profiler: nil)
        var logits = stepper.prefillLogits()
        let vocab = logits.shape.last
        var rows: [[Float]] = [Array(UnsafeBufferPointer(start: logits.floats, count: vocab))]
        for token in tokens {
            guard token >= 0 && token < vocab else {
                throw ExecutorError.capacityExceeded(detail: "forced token \(token) is outside the vocabulary (\(vocab))")
            }
            if stepper.remaining <= 0 { break }
            logits = try stepper.advance([token])
            rows.append(Array(UnsafeBufferPointer(start: logits.floats, count: vocab)))
        }
        return ForcedRun(imageEmbedding: inter.imageEmbedding, prefixEmbeddings: inter.prefixEmbeddings, logits: rows)
    }

    // MARK: decode-loop services

    /// Logits of the last decoder run: `[B, V]`.
    func logits() -> TensorView { decoder.output(0) }

    /// Runs one decode step for `tokens`: token `b` goes to cache slot `firstSlot + b`, at that
    /// slot's own length. Returns the logits `[tokens.count, V]`.
    func step(tokens: [Int], firstSlot: Int = 0, profiler: Profiler?) throws -> TensorView {
        let b = tokens.count
        guard firstSlot + b <= cache.slots else {
            throw ExecutorError.capacityExceeded(detail: "\(b) decoder rows exceed the model's batch capacity \(cache.slots) (load with a larger maxBatch or batchSize)")
        }
        let ids = try tokenEmbedding.inputBuffer(0, shape: Shape(b, 1)).assumingMemoryBound(to: Int32.self)
        for i in 0..<b { ids[i] = Int32(truncatingIfNeeded: tokens[i]) }
        try tokenEmbedding.run(symbols: SymbolBindings(B: b, T: 1, nPast: 0, maxCtx: model.maxContext), context: context, profiler: profiler)
        let emb = tokenEmbedding.output(0)
        let input = try decoder.inputBuffer(model.decoderInputs.embeds, shape: emb.shape)
        input.copyMemory(from: emb.data, byteCount: emb.byteCount)
        return try runDecoder(rows: b, positions: 1, firstSlot: firstSlot, profiler: profiler)
    }
}

/// The one-image decode loop's view of a session: its rows are cache slots `0..<rows`.
struct DecoderStepper {
    let session: CaptionSession
    let profiler: Profiler?
    var steps = 0

    init(session: CaptionSession, profiler: Profiler?) {
        self.session = session
        self.profiler = profiler
    }

    /// Logits after prefill (batch 1).
    func prefillLogits() -> TensorView { session.logits() }

    /// Copies the single prefilled slot into `count` slots.
    func expand(to count: Int) {
        let cache = session.cache
        guard count > cache.active, let more = cache.allocate(count - cache.active) else { return }
        for s in more { cache.copy(from: 0, to: s) }
    }

    /// Feeds one token per row; returns `[rows, V]` logits.
    mutating func advance(_ tokens: [Int]) throws -> TensorView {
        let phase = profiler?.beginPhase("decode_step_\(steps)")
        let out = try session.step(tokens: tokens, profiler: profiler)
        if let phase { profiler?.endPhase("decode_step_\(steps)", start: phase) }
        steps += 1
        return out
    }

    /// Beam search: rows now continue from these parent rows.
    func reorder(_ parents: [Int]) { session.cache.reorder(Array(0..<parents.count), from: parents) }

    /// Tokens the cache can still take.
    var remaining: Int { session.model.maxContext - session.cache.lengths[0] }
}
