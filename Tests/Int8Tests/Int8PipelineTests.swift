import ClipCap
import CCMFormat
import Engine
import Foundation
import ImageIO
import Int8Backend
import ModelConverter
import NaiveBackend
import XCTest

/// A fixture model (Tests/Fixtures/models: tiny CLIP + MLP mapper + GPT-2) converted, quantized
/// and captioned on the int8 backend, against the float model on BLAS.
final class Int8PipelineTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models").path
    var dir = ""

    override func setUpWithError() throws {
        ClipCap.registerStandardBackends()
        dir = NSTemporaryDirectory() + "clipcap-int8-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A deterministic 96x80 test picture (gradients and a square).
    static func picture() -> RGBImage {
        let w = 96, h = 80
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                let inSquare = (30..<60).contains(x) && (20..<50).contains(y)
                pixels[(y * w + x) * 3] = UInt8(x * 255 / w)
                pixels[(y * w + x) * 3 + 1] = inSquare ? 240 : UInt8(y * 255 / h)
                pixels[(y * w + x) * 3 + 2] = UInt8((x + y) % 256)
            }
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }

    func convertFixture() throws -> String {
        let f = Self.fixtures
        let out = dir + "/en-mlp.ccm"
        _ = try Converter.convert(ConvertOptions(clipPath: f + "/clip/ViT-tiny-jit.pt", checkpointPath: f + "/clipcap-en-mlp.pt",
                                                 gpt2Folder: f + "/gpt2-en", outputPath: out))
        return out
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x * x); nb += Double(y * y) }
        return dot / (na.squareRoot() * nb.squareRoot())
    }

    func testQuantizedFixtureCaptionsOnInt8Backend() throws {
        let float = try convertFixture()
        let image = Self.picture()
        let reference = try CaptionModel.load(path: float, options: LoadOptions(backend: "blas", threads: 2, maxBatch: 1, maxTokens: 20))
        let greedy = DecodingOptions(strategy: .greedy, maxTokens: 20)
        let floatCaption = try XCTUnwrap(try reference.caption(image: image, options: greedy).captions.first)
        let forcedFloat = try reference.teacherForcedLogits(image: image, tokens: floatCaption.tokenIDs)

        for scheme in ["per_channel", "block32"] {
            let quantized = dir + "/en-mlp-\(scheme).ccm"
            let report = try Quantizer.quantize(input: float, output: quantized,
                                                options: QuantizeOptions(scheme: QuantizationScheme(name: scheme)!), progress: nil)
            XCTAssertGreaterThan(report.quantizedNodes.count, 0)
            XCTAssertLessThan(report.outputBytes, report.inputBytes)
            let model = try CaptionModel.load(path: quantized, options: LoadOptions(backend: "int8", threads: 2, maxBatch: 1, maxTokens: 20))
            // Every node runs on int8 or, for float ops, on blas: nothing falls through to naive.
            XCTAssertEqual(model.fallbacks.filter { $0.backend == "naive" }.map(\.node), [], scheme)
            XCTAssertTrue(model.fallbacks.allSatisfy { $0.backend == "blas" && $0.op != "linear_i8" }, scheme)
            let ops = Set(model.file.graphs.flatMap { $0.nodes.map(\.op) })
            XCTAssertTrue(ops.contains("linear_i8"), scheme)
            XCTAssertFalse(ops.contains("linear"), "every float linear should have been rewritten (\(scheme))")

            let caption = try XCTUnwrap(try model.caption(image: image, options: greedy).captions.first)
            XCTAssertFalse(caption.tokenIDs.isEmpty, scheme)
            let forced = try model.teacherForcedLogits(image: image, tokens: floatCaption.tokenIDs)
            let imageCos = Self.cosine(forced.imageEmbedding, forcedFloat.imageEmbedding)
            let prefixCos = Self.cosine(forced.prefixEmbeddings, forcedFloat.prefixEmbeddings)
            var agree = 0
            for (a, b) in zip(forced.logits, forcedFloat.logits) where a.indices.max(by: { a[$0] < a[$1] }) == b.indices.max(by: { b[$0] < b[$1] }) {
                agree += 1
            }
            let rate = Double(agree) / Double(max(1, forcedFloat.logits.count))
            print("int8 \(scheme): image cos \(imageCos), prefix cos \(prefixCos), top-1 \(agree)/\(forcedFloat.logits.count), caption \(caption.text == floatCaption.text ? "identical" : "differs")")
            XCTAssertGreaterThanOrEqual(imageCos, 0.999, scheme)
            XCTAssertGreaterThanOrEqual(prefixCos, 0.999, scheme)
            XCTAssertGreaterThanOrEqual(rate, 0.85, scheme)
        }
    }
}
