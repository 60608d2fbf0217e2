import ClipCap
import Foundation
import ModelConverter
import XCTest

/// The other CLIP image towers against PyTorch (Tests/Fixtures/backbones, written by
/// `tools/make_fixtures.py --only backbones`): a ModifiedResNet at 288 (RN50x4's resolution,
/// TorchScript archive, batch norms folded), a ViT with patch 16 at 224 (state dict) and a ViT
/// with patch 14 at 336 (archive), each with the same transformer mapper and GPT-2. Exact
/// greedy ids and close logits on every backend.
final class BackboneParityTests: XCTestCase {
    static let fixtures = PyTorchParityTests.repo.appendingPathComponent("Tests/Fixtures/backbones").path
    static let models = PyTorchParityTests.fixtures

    var dir = ""

    override func setUpWithError() throws {
        ClipCap.registerStandardBackends()
        guard FileManager.default.fileExists(atPath: PyTorchParityTests.seedImages) else {
            throw XCTSkip("seed photos not found at \(PyTorchParityTests.seedImages) (shared/ must sit beside the checkout)")
        }
        dir = NSTemporaryDirectory() + "clipcap-backbones-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func convert(_ backbone: String) throws -> (path: String, summary: ConvertSummary) {
        let out = dir + "/\(backbone).ccm"
        let summary = try Converter.convert(ConvertOptions(
            clipPath: Self.fixtures + "/\(backbone).pt", checkpointPath: Self.fixtures + "/clipcap-en-transformer.pt",
            gpt2Folder: Self.models + "/gpt2-en", normalizePrefix: true, outputPath: out))
        return (out, summary)
    }

    private func check(_ backbone: String, backends: [String], images: [String] = PyTorchParityTests.images,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let (path, _) = try convert(backbone)
        let references = ReferenceCheck(reference: { image, kind in Self.fixtures + "/reference/\(backbone).\(image).\(kind).npy" },
                                        images: images, imageFolder: PyTorchParityTests.seedImages)
        for backend in backends {
            try references.check(model: path, backend: backend, label: backbone, file: file, line: line)
        }
    }

    /// Both photos on the fast backends; the reference backend is slow in debug builds, so one
    /// photo is enough for it.
    private func checkEveryBackend(_ backbone: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try check(backbone, backends: ["blas", "int8"], file: file, line: line)
        try check(backbone, backends: ["naive"], images: [PyTorchParityTests.images[0]], file: file, line: line)
    }

    func testResNetMatchesPyTorchOnEveryBackend() throws { try checkEveryBackend("rn-288") }

    func testViTPatch16MatchesPyTorchOnEveryBackend() throws { try checkEveryBackend("vit-p16-224") }

    func testViTPatch14At336MatchesPyTorchOnEveryBackend() throws { try checkEveryBackend("vit-p14-336") }

    /// `clipcapctl quantize` turns the ResNet's convolutions into `conv2d_i8` (and the pool's
    /// projections into `linear_i8`); the int8 backend runs them without fallbacks and the image
    /// embedding stays close to PyTorch's (it is another model: captions may differ).
    func testQuantizedResNetRunsOnInt8Kernels() throws {
        let (float, _) = try convert("rn-288")
        let quantized = dir + "/rn-288-int8.ccm"
        let report = try Quantizer.quantize(input: float, output: quantized)
        let model = try CaptionModel.load(path: quantized, options: LoadOptions(backend: "int8", threads: 2, maxTokens: 4))
        let ops = model.file.graph(named: "image_encoder")?.nodes.map(\.op) ?? []
        XCTAssertEqual(ops.filter { $0 == "conv2d" }.count, 0, "every convolution quantized")
        XCTAssertEqual(ops.filter { $0 == "conv2d_i8" }.count, 3 + 3 * 5 + 4, "stem, 5 blocks, 4 shortcuts")
        XCTAssertTrue(ops.contains("linear_i8"))
        XCTAssertTrue(report.quantizedNodes.contains("stem.1"), "\(report.quantizedNodes)")
        XCTAssertTrue(model.fallbacks.allSatisfy { $0.backend == "blas" && $0.op != "conv2d_i8" }, "\(model.fallbacks)")
        var options = DecodingOptions(strategy: .greedy, maxTokens: 4)
        options.captureIntermediates = true
        let image = PyTorchParityTests.images[0]
        let result = try model.caption(imageAt: PyTorchParityTests.seedImages + "/\(image).jpg", options: options)
        let embedding = try NPY.read(Self.fixtures + "/reference/rn-288.\(image).image_embedding.npy").values
        let similarity = cosine(try XCTUnwrap(result.intermediates).imageEmbedding.map(Double.init), embedding)
        XCTAssertGreaterThan(similarity, 0.995, "int8 ResNet embedding against PyTorch's float one")
    }

    /// The converter reads every size from the weights and names the tower.
    func testSizesAreReadFromTheWeights() throws {
        let rn = try convert("rn-288").summary
        XCTAssertEqual(rn.imageSize, 288)
        XCTAssertTrue(rn.architecture.hasPrefix("clip-resnet(w8,b2,1,1,1,s288)"), rn.architecture)
        let vit = try convert("vit-p14-336").summary
        XCTAssertEqual(vit.imageSize, 336)
        XCTAssertTrue(vit.architecture.hasPrefix("clip-vit(w64,p14,l2,s336)"), vit.architecture)
        for backend in ["blas", "int8"] {
            let model = try CaptionModel.load(path: dir + "/rn-288.ccm", options: LoadOptions(backend: backend, threads: 1))
            let ops = Set(model.file.graph(named: "image_encoder")?.nodes.map(\.op) ?? [])
            XCTAssertTrue(ops.isSuperset(of: ["conv2d", "avg_pool2d", "attention"]), "\(ops)")
            // The spatial operators run on a fast backend (int8's chain gives float ones to blas), never on naive.
            XCTAssertTrue(model.fallbacks.allSatisfy { $0.backend == "blas" }, "\(backend): \(model.fallbacks)")
        }
    }
}
