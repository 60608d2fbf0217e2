@testable import Engine
import ClipCap
import XCTest

/// The executor end to end on a hand-built tiny model: backends agree, the KV cache gives the
/// same logits as recomputing the whole sequence, decoding strategies behave.
final class PipelineTests: XCTestCase {
    var dir = ""
    var path = ""

    override func setUpWithError() throws {
        ClipCap.registerStandardBackends()
        dir = TinyModel.temporaryDirectory()
        path = try TinyModel.write(to: dir + "/tiny.ccm")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    var image: RGBImage { RGBImage(width: 40, height: 36, pixels: TinyModel.pixels()) }

    func testNaiveAndBLASGiveTheSameCaptionAndLogits() throws {
        var options = DecodingOptions(maxTokens: 8)
        options.captureIntermediates = true
        let naive = try CaptionModel.load(path: path, options: LoadOptions(backend: "naive", threads: 1))
        let blas = try CaptionModel.load(path: path, options: LoadOptions(backend: "blas", threads: 2))
        let a = try naive.caption(image: image, options: options)
        let b = try blas.caption(image: image, options: options)
        XCTAssertEqual(a.captions.map(\.tokenIDs), b.captions.map(\.tokenIDs))
        XCTAssertFalse(a.captions[0].tokenIDs.isEmpty)
        let la = try XCTUnwrap(a.intermediates).logits, lb = try XCTUnwrap(b.intermediates).logits
        XCTAssertEqual(la.count, lb.count)
        for (ra, rb) in zip(la, lb) {
            for (x, y) in zip(ra, rb) { XCTAssertEqual(x, y, accuracy: 1e-4) }
        }
    }

    /// Step-by-step decoding with the cache must equal one prefill over the whole sequence.
    func testKVCacheMatchesFullRecompute() throws {
        let model = try CaptionModel.load(path: path, options: LoadOptions(backend: "naive", threads: 1))
        let tokens = [4, 5, 6, 7, 8]
        let forced = try model.teacherForcedLogits(image: image, tokens: tokens)
        XCTAssertEqual(forced.logits.count, tokens.count + 1)

        // Recompute: embed the tokens, append them to the prefix, run the decoder once.
        let session = try CaptionSession(model: model)
        let D = TinyModel.width, P = TinyModel.prefix
        let ids = try session.tokenEmbedding.inputBuffer(0, shape: Shape(1, tokens.count)).assumingMemoryBound(to: Int32.self)
        for (i, t) in tokens.enumerated() { ids[i] = Int32(t) }
        try session.tokenEmbedding.run(symbols: SymbolBindings(B: 1, T: tokens.count, nPast: 0, maxCtx: model.maxContext),
                                       context: session.context, profiler: nil)
        let emb = session.tokenEmbedding.output(0)
        let sequence = forced.prefixEmbeddings + Array(UnsafeBufferPointer(start: emb.floats, count: emb.elementCount))
        // The decoder was planned for T <= prefix length: use a model whose plan allows the longer run.
        let big = try CaptionModel.load(path: path, options: LoadOptions(backend: "naive", threads: 1, maxBatch: 8))
        let runner = try GraphRunner(graph: try CompiledGraph(
            graph: big.file.graph(named: "decoder")!, file: big.file, weights: WeightCache(file: big.file),
            chain: BackendChain([BackendRegistry.shared.backend(named: "naive")!]),
            worstCase: SymbolBindings(B: 1, T: P + tokens.count, nPast: 0, maxCtx: big.maxContext)))
        let input = try runner.inputBuffer(0, shape: Shape(1, P + tokens.count, D)).assumingMemoryBound(to: Float.self)
        for (i, v) in sequence.enumerated() { input[i] = v }
        try runner.run(symbols: SymbolBindings(B: 1, T: P + tokens.count, nPast: 0, maxCtx: big.maxContext),
                       context: ExecutionContext(pool: ThreadPool(threads: 1)), profiler: nil)
        let full = runner.output(0)
        let last = forced.logits[tokens.count]
        for i in 0..<full.elementCount { XCTAssertEqual(full.floats[i], last[i], accuracy: 1e-4) }
    }

    func testBeamOfOneEqualsGreedyAndSamplingIsSeeded() throws {
        let model = try CaptionModel.load(path: path, options: LoadOptions(backend: "blas", threads: 1))
        let greedy = try model.caption(image: image, options: DecodingOptions(strategy: .greedy, maxTokens: 8))
        let beam1 = try model.caption(image: image, options: DecodingOptions(strategy: .beam(width: 1), maxTokens: 8))
        XCTAssertEqual(greedy.captions[0].tokenIDs, beam1.captions[0].tokenIDs)

        let beam3 = try model.caption(image: image, options: DecodingOptions(strategy: .beam(width: 3), numCandidates: 3, maxTokens: 8))
        XCTAssertEqual(beam3.captions.count, 3)
        XCTAssertEqual(beam3.captions.map(\.score), beam3.captions.map(\.score).sorted(by: >))

        let s1 = try model.caption(image: image, options: DecodingOptions(strategy: .sample, numCandidates: 4, topP: 0.9, seed: 42, maxTokens: 8))
        let s2 = try model.caption(image: image, options: DecodingOptions(strategy: .sample, numCandidates: 4, topP: 0.9, seed: 42, maxTokens: 8))
        XCTAssertEqual(s1.captions.map(\.tokenIDs), s2.captions.map(\.tokenIDs))
        XCTAssertEqual(s1.captions.count, 4)
        // top-k = 1 sampling is greedy.
        let k1 = try model.caption(image: image, options: DecodingOptions(strategy: .sample, numCandidates: 2, topK: 1, seed: 3, maxTokens: 8))
        XCTAssertEqual(k1.captions[0].tokenIDs, greedy.captions[0].tokenIDs)
        XCTAssertEqual(k1.captions[1].tokenIDs, greedy.captions[0].tokenIDs)
        // The banned token never appears.
        for c in s1.captions + beam3.captions { XCTAssertFalse(c.tokenIDs.contains(1)) }
    }

    func testMemoryPlanReusesBuffers() throws {
        let model = try CaptionModel.load(path: path, options: LoadOptions(backend: "naive", threads: 1))
        let graph = model.decoder
        var total = 0
        for kind in graph.valueKinds { if case .intermediate(_, let capacity) = kind { total += capacity } }
        XCTAssertLessThan(graph.arenaBytes, total, "lifetimes that do not overlap must share memory")
    }

    func testCompressedModelCaptionsTheSame() throws {
        let zpath = try TinyModel.write(to: dir + "/tiny-zstd.ccm", encoding: .shuffledZstd)
        let raw = try CaptionModel.load(path: path, options: LoadOptions(backend: "naive", threads: 1))
        let z = try CaptionModel.load(path: zpath, options: LoadOptions(backend: "naive", threads: 1))
        XCTAssertEqual(try raw.caption(image: image).captions, try z.caption(image: image).captions)
    }

    func testUnknownBackendIsAClearError() {
        XCTAssertThrowsError(try CaptionModel.load(path: path, options: LoadOptions(backend: "gpu"))) { error in
            XCTAssertTrue("\(error)".contains("unknown backend 'gpu'"), "\(error)")
        }
    }

    func testConcurrentCaptionsMatchSerial() throws {
        let model = try CaptionModel.load(path: path, options: LoadOptions(backend: "blas", threads: 1))
        let images = (0..<8).map { RGBImage(width: 40, height: 36, pixels: TinyModel.pixels(seed: $0)) }
        let serial = try images.map { try model.caption(image: $0, options: DecodingOptions(maxTokens: 8)).captions }
        let results = LockedArray<[Caption]>(count: images.count)
        DispatchQueue.concurrentPerform(iterations: images.count) { i in
            results[i] = try? model.caption(image: images[i], options: DecodingOptions(maxTokens: 8)).captions
        }
        for i in 0..<images.count { XCTAssertEqual(results[i], serial[i]) }
    }
}

final class LockedArray<T>: @unchecked Sendable {
    private var items: [T?]
    private let lock = NSLock()
    init(count: Int) { items = Array(repeating: nil, count: count) }
    subscript(i: Int) -> T? {
        get { lock.lock(); defer { lock.unlock() }; return items[i] }
        set { lock.lock(); items[i] = newValue; lock.unlock() }
    }
}
