import ClipCap
import Foundation
import XCTest

/// The shipped demo model (models/demo.ccm, models/demo-int8.ccm) on the shipped samples: naive
/// and blas write exactly the captions PyTorch writes with the same weights, the int8 model
/// nearly so
/// (models/samples/torch-captions.tsv, from tools/demo/caption_torch.py), and the true captions
/// are parseable world captions (the model's accuracy itself is reported in docs/DEMO.md).
final class DemoModelTests: XCTestCase {
    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models").path

    func expected() throws -> [(file: String, caption: String)] {
        let text = try String(contentsOfFile: Self.models + "/samples/torch-captions.tsv", encoding: .utf8)
        return text.split(separator: "\n").map { line in
            let parts = line.split(separator: "\t", omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
    }

    /// Captions of the 8 samples: (file, engine caption, PyTorch caption).
    func run(model: String, backend: String, residency: WeightResidency = .perImage,
             stageBytes: Int? = nil) throws -> [(String, String, String)] {
        ClipCap.registerStandardBackends()
        let path = Self.models + "/" + model
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) not present") }
        var options = LoadOptions(backend: backend, threads: 2, maxTokens: 32)
        options.residency = residency
        if let stageBytes { options.encoderStageBytes = stageBytes }
        let loaded = try ClipCap.loadModel(path: path, options: options)
        let cases = try expected()
        XCTAssertEqual(cases.count, 8)
        return try cases.map { file, caption in
            let result = try loaded.caption(imageAt: Self.models + "/samples/" + file, options: DecodingOptions(maxTokens: 32))
            return (file, result.captions[0].text, caption)
        }
    }

    /// The float model must write exactly PyTorch's captions.
    func check(model: String, backend: String, residency: WeightResidency = .perImage, stageBytes: Int? = nil) throws {
        for (file, got, want) in try run(model: model, backend: backend, residency: residency, stageBytes: stageBytes) {
            XCTAssertEqual(got, want, "\(model) on \(backend): \(file)")
        }
    }

    /// The int8 model is another model (quantized weights and activations): where the float
    /// model's two best continuations are close, it may choose the other one. At most one of
    /// the 8 samples may differ from PyTorch's float captions; its accuracy on 500 images is in
    /// docs/DEMO.md.
    func checkInt8(residency: WeightResidency = .perImage) throws {
        let rows = try run(model: "demo-int8.ccm", backend: "int8", residency: residency)
        let differing = rows.filter { $0.1 != $0.2 }
        XCTAssertLessThanOrEqual(differing.count, 1, "int8 differs from PyTorch's float captions on \(differing)")
    }

    func testFloatModelMatchesPyTorchOnNaiveAndBLAS() throws {
        try check(model: "demo.ccm", backend: "naive")
        try check(model: "demo.ccm", backend: "blas")
    }

    func testInt8ModelWritesNearlyTheSameCaptions() throws {
        try checkInt8()
    }

    /// Every residency (the default streams the encoder's pages through memory for each image;
    /// per-phase also releases the mapper's and decoder's; all keeps everything mapped): eight
    /// images in a row must still give PyTorch's captions, also with the encoder cut into many
    /// small stages.
    func testEveryWeightResidencyWritesTheSameCaptions() throws {
        for residency in [WeightResidency.perPhase, .all] {
            try check(model: "demo.ccm", backend: "blas", residency: residency)
            try checkInt8(residency: residency)
        }
        try check(model: "demo.ccm", backend: "naive", residency: .perPhase)
        for residency in [WeightResidency.perImage, .perPhase] {
            try check(model: "demo.ccm", backend: "blas", residency: residency, stageBytes: 64 << 10)
        }
    }
}
