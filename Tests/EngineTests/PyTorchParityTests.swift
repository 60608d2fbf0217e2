import ClipCap
import Foundation
import ModelConverter
import XCTest

/// Every converted layout against PyTorch (Tests/Fixtures/models, written by
/// tools/make_fixtures.py): image embedding and prefix cosine >= 0.99999, logits max abs error
/// <= 1e-3 at every greedy step, identical greedy token ids — on the naive and BLAS backends.
final class PyTorchParityTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repo.appendingPathComponent("Tests/Fixtures/models").path
    static let seedImages = repo.deletingLastPathComponent().appendingPathComponent("shared/seed/images/dev").path

    struct Layout {
        var name: String
        var checkpoint: String
        var gpt2: String
        var bert: String?
        var normalizePrefix: Bool
    }

    static let layouts = [
        Layout(name: "zh-mlp", checkpoint: "clipcap-zh-mlp.pt", gpt2: "gpt2-zh", bert: nil, normalizePrefix: false),
        Layout(name: "zh-bert", checkpoint: "clipcap-zh-bert.pt", gpt2: "gpt2-zh", bert: "bert", normalizePrefix: false),
        Layout(name: "en-mlp", checkpoint: "clipcap-en-mlp.pt", gpt2: "gpt2-en", bert: nil, normalizePrefix: false),
        Layout(name: "en-transformer", checkpoint: "clipcap-en-transformer.safetensors", gpt2: "gpt2-en", bert: nil, normalizePrefix: true),
    ]
    static let clipLayouts = ["clip/ViT-tiny-jit.pt", "clip/ViT-tiny-state-dict.pt", "clip/hf-vision", "clip/hf-vision/model.safetensors"]
    static let images = ["256063", "301246"]

    var dir = ""

    override func setUpWithError() throws {
        ClipCap.registerStandardBackends()
        guard FileManager.default.fileExists(atPath: Self.seedImages) else {
            throw XCTSkip("seed photos not found at \(Self.seedImages) (shared/ must sit beside the checkout)")
        }
        dir = NSTemporaryDirectory() + "clipcap-parity-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func convert(_ layout: Layout, clip: String) throws -> String {
        let f = Self.fixtures
        let out = dir + "/\(layout.name)-\((clip as NSString).lastPathComponent).ccm"
        _ = try Converter.convert(ConvertOptions(
            clipPath: f + "/" + clip, checkpointPath: f + "/" + layout.checkpoint, gpt2Folder: f + "/" + layout.gpt2,
            bertFolder: layout.bert.map { f + "/" + $0 }, normalizePrefix: layout.normalizePrefix, outputPath: out))
        return out
    }

    private func check(model path: String, layout: Layout, backend: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let ref = Self.fixtures + "/reference/"
        let references = ReferenceCheck(reference: { image, kind in
            // The image embedding depends on the CLIP tower only: one file per photo.
            kind == "image_embedding" ? ref + "\(image).image_embedding.npy" : ref + "\(layout.name).\(image).\(kind).npy"
        }, images: Self.images, imageFolder: Self.seedImages)
        try references.check(model: path, backend: backend, label: layout.name, file: file, line: line)
    }

    func testEveryMappingLayoutMatchesPyTorch() throws {
        for layout in Self.layouts {
            let path = try convert(layout, clip: Self.clipLayouts[0])
            for backend in ["naive", "blas"] { try check(model: path, layout: layout, backend: backend) }
        }
    }

    /// The dumped pixels are the preprocessed input itself (not memory the encoder reused), equal
    /// to torchvision's tensor for the same photo (Tests/Fixtures/images/tensors).
    func testCapturedPixelsAreTorchvisionsTensor() throws {
        let path = try convert(Self.layouts[0], clip: Self.clipLayouts[0])
        let model = try CaptionModel.load(path: path, options: LoadOptions(backend: "blas", threads: 1))
        var options = DecodingOptions(maxTokens: 2)
        options.captureIntermediates = true
        let pixels = try XCTUnwrap(try model.caption(imageAt: Self.seedImages + "/256063.jpg", options: options).intermediates).pixelValues
        let data = try Data(contentsOf: Self.repo.appendingPathComponent("Tests/Fixtures/images/tensors/dev_256063.f32"))
        let reference = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        XCTAssertEqual(pixels.count, reference.count)
        var maxError: Float = 0
        for (a, b) in zip(pixels, reference) { maxError = max(maxError, abs(a - b)) }
        XCTAssertLessThanOrEqual(maxError, 1e-6)
    }

    func testEveryCLIPLayoutMatchesPyTorch() throws {
        for clip in Self.clipLayouts.dropFirst() {
            let path = try convert(Self.layouts[0], clip: clip)
            try check(model: path, layout: Self.layouts[0], backend: "blas")
        }
    }
}
