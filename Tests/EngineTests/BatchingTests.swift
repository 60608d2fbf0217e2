import ClipCap
import Foundation
import ModelConverter
import XCTest

/// Batched captioning (`captions(for:)`, `captionStream`, BatchDecoder) gives exactly the ids of
/// the one-image path, whatever the batch: batch sizes 1, 3 and 8, batches that refill mid-run
/// (more images than the batch, captions of different lengths), requests with different
/// decoding options in one batch, on every backend; on the shipped demo model (its decoder
/// graph predates per-row inputs: lockstep), on the same model upgraded (`clipcapctl upgrade`:
/// continuous batching), and on a model converted from the PyTorch fixtures.
final class BatchingTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let models = repo.appendingPathComponent("models").path
    static let fixtures = repo.appendingPathComponent("Tests/Fixtures/models").path
    static let seedImages = repo.deletingLastPathComponent().appendingPathComponent("shared/seed/images/dev").path

    var dir = ""

    override func setUp() {
        ClipCap.registerStandardBackends()
        dir = TinyModel.temporaryDirectory()
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// The decoding options the tests mix: greedy, beam search and seeded sampling.
    static let mixes: [DecodingOptions] = {
        var greedy = DecodingOptions(maxTokens: 24)
        greedy.minTokens = 0
        let beam = DecodingOptions(strategy: .beam(width: 3), numCandidates: 2, maxTokens: 24)
        let sample = DecodingOptions(strategy: .sample, numCandidates: 2, topK: 5, topP: 0.9, temperature: 1.3, seed: 11, maxTokens: 24)
        var short = DecodingOptions(maxTokens: 3)
        short.seed = 2
        return [greedy, beam, sample, short]
    }()

    func demoSamples() throws -> [String] {
        let folder = Self.models + "/samples"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { throw XCTSkip("no models/samples") }
        return names.filter { $0.hasSuffix(".jpg") || $0.hasSuffix(".png") }.sorted().map { folder + "/" + $0 }
    }

    /// Requests over `images`, cycling through `options` (so one batch mixes them).
    func requests(_ images: [String], _ options: [DecodingOptions]) -> [CaptionRequest] {
        images.enumerated().map { i, path in CaptionRequest.file(path, options: options[i % options.count]) }
    }

    /// Every candidate's ids, per request.
    func ids(_ outcomes: [CaptionOutcome], file: StaticString = #filePath, line: UInt = #line) -> [[[Int]]] {
        outcomes.map { outcome in
            switch outcome.result {
            case .success(let r): return r.captions.map(\.tokenIDs)
            case .failure(let error):
                XCTFail("\(outcome.name): \(error)", file: file, line: line)
                return []
            }
        }
    }

    /// The one-image path's ids, then the batched ones at batch sizes 1, 3 and 8: identical.
    /// (Debug builds run the naive and int8 kernels slowly: those backends check fewer images
    /// and batch sizes, still with a refill.)
    func checkBatchesMatchOneImage(model path: String, backend: String, images all: [String], options: [DecodingOptions],
                                   file: StaticString = #filePath, line: UInt = #line) throws {
        let images = backend == "blas" ? Array(all.prefix(6)) : Array(all.prefix(4))
        let batches = backend == "blas" ? [1, 3, 8] : [3]
        let model = try ClipCap.loadModel(path: path, options: LoadOptions(backend: backend, threads: 2, maxTokens: 32, batchSize: 8))
        let reqs = requests(images, options)
        let single = try reqs.map { r -> [[Int]] in
            guard case .file(let p) = r.source else { return [] }
            return try model.caption(imageAt: p, options: r.options).captions.map(\.tokenIDs)
        }
        for batch in batches {
            let outcomes = model.captions(for: reqs, batchSize: batch)
            XCTAssertEqual(outcomes.map(\.index), Array(0..<reqs.count), "input order", file: file, line: line)
            XCTAssertEqual(ids(outcomes, file: file, line: line), single,
                           "\((path as NSString).lastPathComponent) on \(backend), batch \(batch) (continuous: \(model.continuousBatching))",
                           file: file, line: line)
        }
    }

    func upgradedDemo(_ name: String) throws -> String {
        let source = Self.models + "/" + name
        guard FileManager.default.fileExists(atPath: source) else { throw XCTSkip("\(source) not present") }
        let out = dir + "/upgraded-" + name
        let report = try BatchGraphUpgrade.upgrade(input: source, output: out)
        XCTAssertTrue(report.changed)
        return out
    }

    func testDemoModelLockstepBatchesMatchOneImage() throws {
        let images = try demoSamples()
        let path = Self.models + "/demo.ccm"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no demo model") }
        let loaded = try ClipCap.loadModel(path: path, options: LoadOptions(backend: "blas"))
        XCTAssertFalse(loaded.continuousBatching)
        for backend in ["blas", "naive"] {
            try checkBatchesMatchOneImage(model: path, backend: backend, images: images, options: Self.mixes)
        }
    }

    func testUpgradedDemoModelBatchesContinuouslyWithTheSameIds() throws {
        let images = try demoSamples()
        let path = try upgradedDemo("demo.ccm")
        let loaded = try ClipCap.loadModel(path: path, options: LoadOptions(backend: "blas"))
        XCTAssertTrue(loaded.continuousBatching)
        for backend in ["blas", "naive"] {
            try checkBatchesMatchOneImage(model: path, backend: backend, images: images, options: Self.mixes)
        }
        // The upgraded file writes exactly the original's captions.
        let original = try ClipCap.loadModel(path: Self.models + "/demo.ccm", options: LoadOptions(backend: "blas", maxTokens: 32))
        let upgraded = try ClipCap.loadModel(path: path, options: LoadOptions(backend: "blas", maxTokens: 32))
        for image in images {
            XCTAssertEqual(try original.caption(imageAt: image, options: Self.mixes[1]).captions.map(\.tokenIDs),
                           try upgraded.caption(imageAt: image, options: Self.mixes[1]).captions.map(\.tokenIDs), image)
        }
    }

    func testInt8DemoModelBatchesMatchOneImage() throws {
        let images = try demoSamples()
        let original = Self.models + "/demo-int8.ccm"
        guard FileManager.default.fileExists(atPath: original) else { throw XCTSkip("no int8 demo model") }
        try checkBatchesMatchOneImage(model: original, backend: "int8", images: images, options: Self.mixes)
        try checkBatchesMatchOneImage(model: try upgradedDemo("demo-int8.ccm"), backend: "int8", images: images, options: Self.mixes)
    }

    /// A model converted from the PyTorch fixtures (per-row decoder graph): the batched greedy
    /// ids are PyTorch's reference ids, and mixed batches match the one-image path.
    func testConvertedFixtureBatchesMatchPyTorchAndOneImage() throws {
        guard FileManager.default.fileExists(atPath: Self.seedImages) else { throw XCTSkip("seed photos not found at \(Self.seedImages)") }
        let f = Self.fixtures, out = dir + "/zh-mlp.ccm"
        _ = try Converter.convert(ConvertOptions(clipPath: f + "/clip/ViT-tiny-jit.pt", checkpointPath: f + "/clipcap-zh-mlp.pt",
                                                 gpt2Folder: f + "/gpt2-zh", outputPath: out))
        let photos = ["256063", "301246"]
        // More images than the batch: the batch refills as captions of different lengths end.
        let images = (0..<7).map { Self.seedImages + "/\(photos[$0 % 2]).jpg" }
        for backend in ["blas", "naive"] {
            let model = try ClipCap.loadModel(path: out, options: LoadOptions(backend: backend, threads: 2, maxTokens: 40))
            XCTAssertTrue(model.continuousBatching)
            for photo in photos {
                let reference = try NPY.read(f + "/reference/zh-mlp.\(photo).greedy_ids.npy").values.map { Int($0) }
                let reqs = (0..<5).map { _ in CaptionRequest.file(Self.seedImages + "/\(photo).jpg", options: DecodingOptions(maxTokens: reference.count)) }
                for outcome in model.captions(for: reqs, batchSize: 3) {
                    let got = try outcome.result.get().captions[0].tokenIDs
                    XCTAssertEqual(got, Array(reference.prefix(got.count)), "\(photo) on \(backend)")
                }
            }
            try checkBatchesMatchOneImage(model: out, backend: backend, images: images, options: Self.mixes)
        }
    }

    /// A bad image is its own outcome; the images around it are captioned, in order.
    func testBadImageFailsAloneInABatch() throws {
        let path = try TinyModel.write(to: dir + "/tiny.ccm")
        let model = try ClipCap.loadModel(path: path, options: LoadOptions(backend: "blas", threads: 2))
        let good = try demoSamples()[0]
        let bad = dir + "/broken.jpg"
        try Data([0xFF, 0xD8, 0xFF, 0x00, 0x01]).write(to: URL(fileURLWithPath: bad))
        let outcomes = model.captions(for: [good, bad, dir + "/missing.png", good], batchSize: 4)
        XCTAssertEqual(outcomes.map(\.index), [0, 1, 2, 3])
        XCTAssertNoThrow(try outcomes[0].result.get())
        XCTAssertThrowsError(try outcomes[1].result.get())
        XCTAssertThrowsError(try outcomes[2].result.get())
        XCTAssertEqual(try outcomes[3].result.get().captions, try outcomes[0].result.get().captions)
    }

    /// The stream yields every outcome once, in input order, with the batched captions.
    func testStreamYieldsInInputOrder() async throws {
        let path = try TinyModel.write(to: dir + "/tiny.ccm")
        let model = try ClipCap.loadModel(path: path, options: LoadOptions(backend: "blas", threads: 2))
        let images = try demoSamples()
        let reqs = requests(images + images, Self.mixes)
        let batched = ids(model.captions(for: reqs, batchSize: 3))
        var streamed: [[[Int]]] = []
        var order: [Int] = []
        for await outcome in model.captionStream(reqs, batchSize: 3) {
            order.append(outcome.index)
            streamed.append(try outcome.result.get().captions.map(\.tokenIDs))
        }
        XCTAssertEqual(order, Array(0..<reqs.count))
        XCTAssertEqual(streamed, batched)
    }

    /// Requests needing more decoder rows than the model was loaded for fail alone, clearly.
    func testRequestLargerThanTheBatchCapacityFailsAlone() throws {
        let path = try TinyModel.write(to: dir + "/tiny.ccm")
        let model = try ClipCap.loadModel(path: path, options: LoadOptions(backend: "blas", threads: 2, maxBatch: 2, batchSize: 2))
        let image = try demoSamples()[0]
        let wide = DecodingOptions(strategy: .beam(width: 4), maxTokens: 5)
        let outcomes = model.captions(for: [.file(image), .file(image, options: wide), .file(image)], batchSize: 2)
        XCTAssertNoThrow(try outcomes[0].result.get())
        XCTAssertThrowsError(try outcomes[1].result.get()) { XCTAssertTrue("\($0)".contains("batch capacity"), "\($0)") }
        XCTAssertNoThrow(try outcomes[2].result.get())
    }
}
