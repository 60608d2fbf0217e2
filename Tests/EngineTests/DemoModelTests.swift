import ClipCap
import Foundation
import XCTest

/// The shipped demo model (models/demo.ccm, models/demo-int8.ccm) on the shipped samples: every
/// backend writes exactly the captions PyTorch writes with the same weights
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

    func check(model: String, backend: String, lowMemory: Bool = false) throws {
        ClipCap.registerStandardBackends()
        let path = Self.models + "/" + model
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) not present") }
        var options = LoadOptions(backend: backend, threads: 2, maxTokens: 32)
        options.lowMemory = lowMemory
        let loaded = try ClipCap.loadModel(path: path, options: options)
        let cases = try expected()
        XCTAssertEqual(cases.count, 8)
        for (file, caption) in cases {
            let result = try loaded.caption(imageAt: Self.models + "/samples/" + file, options: DecodingOptions(maxTokens: 32))
            XCTAssertEqual(result.captions[0].text, caption, "\(model) on \(backend): \(file)")
        }
    }

    func testFloatModelMatchesPyTorchOnNaiveAndBLAS() throws {
        try check(model: "demo.ccm", backend: "naive")
        try check(model: "demo.ccm", backend: "blas")
    }

    func testInt8ModelWritesTheSameCaptions() throws {
        try check(model: "demo-int8.ccm", backend: "int8")
    }

    /// Low-memory runs release every phase's weight pages after use and map them again for the
    /// next image: eight images in a row must still give PyTorch's captions.
    func testLowMemoryRunsWriteTheSameCaptions() throws {
        try check(model: "demo.ccm", backend: "blas", lowMemory: true)
        try check(model: "demo-int8.ccm", backend: "int8", lowMemory: true)
    }
}
