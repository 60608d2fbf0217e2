import CCMFormat
import Foundation
import ImageIO

/// One caption in flight: runners (arenas, KV cache) for the four graphs and the decode
/// buffers, all allocated once and reused for every image this session captions.
final class CaptionSession {
    let model: CaptionModel
    let context: ExecutionContext
    let imageEncoder: GraphRunner
    let mapper: GraphRunner
    let tokenEmbedding: GraphRunner
    let decoder: GraphRunner
    let preprocessor: CLIPPreprocessor
    /// Bytes of one batch row of each KV-cache state, and a buffer for reordering rows.
    private let stateRowBytes: [Int]
    private let reorderBuffer: UnsafeMutableRawPointer
    private var tokenBuffer: [Int32]
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
        var rows: [Int] = []
        var largest = 64
        for i in 0..<model.decoder.states.count {
            let bytes = decoder.state(i).bytes
            rows.append(bytes / model.options.maxBatch)
            largest = max(largest, bytes)
        }
        stateRowBytes = rows
        reorderBuffer = UnsafeMutableRawPointer.allocate(byteCount: largest, alignment: 64)
        tokenBuffer = [Int32](repeating: 0, count: model.options.maxBatch)
    }

    deinit { reorderBuffer.deallocate() }

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

    /// Runs preprocessing, the image encoder, the mapper and the prefill; fills `timings`.
    /// Afterwards the encoder/mapper outputs and the prefill logits are readable.
    private func encodeAndPrefill(image: RGBImage, timings: inout PhaseTimings, profiler: Profiler?,
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

        // Prefill: the prefix runs once, for one row; candidates then share it.
        phase = profiler?.beginPhase("prefill")
        let decoderInput = try decoder.inputBuffer(0, shape: prefix.shape)
        decoderInput.copyMemory(from: prefix.data, byteCount: prefix.byteCount)
        try decoder.run(symbols: SymbolBindings(B: 1, T: c.prefixLength, nPast: 0, maxCtx: model.maxContext), context: context, profiler: profiler)
        try FiniteCheck.require(decoder.output(0), graph: "decoder", value: "logits after the prefix")
        let t4 = now()
        if let phase { profiler?.endPhase("prefill", start: phase) }
        timings.prefill = ms(t3, t4)
        return intermediates
    }

    func caption(image: RGBImage, options: DecodingOptions, profiler: Profiler?) throws -> CaptionResult {
        var timings = PhaseTimings()
        let begin = now()
        var intermediates = try encodeAndPrefill(image: image, timings: &timings, profiler: profiler,
                                                 capture: options.captureIntermediates)
        let t4 = now()
        var stepper = DecoderStepper(session: self, profiler: profiler)
        let c = model.config
        let captions: [Caption]
        switch options.strategy {
        case .greedy:
            captions = try Decoders.greedy(stepper: &stepper, options: options, config: c, tokenizer: model.tokenizer, capture: &intermediates)
        case .sample:
            captions = try Decoders.sample(stepper: &stepper, options: options, config: c, tokenizer: model.tokenizer, capture: &intermediates)
        case .beam(let width):
            captions = try Decoders.beam(stepper: &stepper, width: width, options: options, config: c, tokenizer: model.tokenizer, capture: &intermediates)
        }
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

    /// Copies KV-cache row 0 (the prefix) into rows 1..<count.
    func expandStates(to count: Int, rows: Int) {
        for (i, rowBytes) in stateRowBytes.enumerated() {
            let base = decoder.state(i).data
            let used = min(rowBytes, rows * (rowBytes / model.maxContext))
            for b in 1..<max(count, 1) { (base + b * rowBytes).copyMemory(from: base, byteCount: used) }
        }
    }

    /// Reorders KV-cache rows: new row b = old row parents[b] (beam search).
    func reorderStates(parents: [Int], rows: Int) {
        for (i, rowBytes) in stateRowBytes.enumerated() {
            let base = decoder.state(i).data
            let used = min(rowBytes, rows * (rowBytes / model.maxContext))
            for (b, p) in parents.enumerated() { (reorderBuffer + b * rowBytes).copyMemory(from: base + p * rowBytes, byteCount: used) }
            for b in 0..<parents.count { (base + b * rowBytes).copyMemory(from: reorderBuffer + b * rowBytes, byteCount: used) }
        }
    }

    /// Runs one decode step for `tokens` (one per row) at position `nPast`; returns the logits.
    func step(tokens: [Int], nPast: Int, profiler: Profiler?) throws -> TensorView {
        let b = tokens.count
        guard b <= model.options.maxBatch else {
            throw ExecutorError.capacityExceeded(detail: "\(b) candidates exceed the model's batch capacity \(model.options.maxBatch) (load with a larger maxBatch)")
        }
        guard nPast + 1 <= model.maxContext else {
            throw ExecutorError.capacityExceeded(detail: "the caption reached the KV-cache capacity of \(model.maxContext) positions")
        }
        let ids = try tokenEmbedding.inputBuffer(0, shape: Shape(b, 1)).assumingMemoryBound(to: Int32.self)
        for i in 0..<b { ids[i] = Int32(truncatingIfNeeded: tokens[i]) }
        let symbols = SymbolBindings(B: b, T: 1, nPast: nPast, maxCtx: model.maxContext)
        try tokenEmbedding.run(symbols: symbols, context: context, profiler: profiler)
        let emb = tokenEmbedding.output(0)
        try FiniteCheck.require(emb, graph: "token_embedding", value: "embeddings at position \(nPast)")
        let input = try decoder.inputBuffer(0, shape: emb.shape)
        input.copyMemory(from: emb.data, byteCount: emb.byteCount)
        try decoder.run(symbols: symbols, context: context, profiler: profiler)
        let logits = decoder.output(0)
        try FiniteCheck.require(logits, graph: "decoder", value: "logits at position \(nPast)")
        return logits
    }
}

/// The decode loop's view of a session: tracks the position and counts steps.
struct DecoderStepper {
    let session: CaptionSession
    let profiler: Profiler?
    var nPast: Int
    var steps = 0

    init(session: CaptionSession, profiler: Profiler?) {
        self.session = session
        self.profiler = profiler
        self.nPast = session.model.config.prefixLength
    }

    /// Logits after prefill (batch 1).
    func prefillLogits() -> TensorView { session.logits() }

    /// Expands the single prefilled row to `count` rows.
    func expand(to count: Int) { if count > 1 { session.expandStates(to: count, rows: nPast) } }

    /// Feeds one token per row; returns `[rows, V]` logits.
    mutating func advance(_ tokens: [Int]) throws -> TensorView {
        let phase = profiler?.beginPhase("decode_step_\(steps)")
        let out = try session.step(tokens: tokens, nPast: nPast, profiler: profiler)
        if let phase { profiler?.endPhase("decode_step_\(steps)", start: phase) }
        nPast += 1
        steps += 1
        return out
    }

    /// Beam search: rows now continue from these parent rows.
    func reorder(_ parents: [Int]) { session.reorderStates(parents: parents, rows: nPast) }

    /// Tokens the cache can still take.
    var remaining: Int { session.model.maxContext - nPast }
}
