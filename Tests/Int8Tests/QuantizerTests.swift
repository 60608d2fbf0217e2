import CCMFormat
import Foundation
import ModelConverter
import XCTest

/// `Quantizer.quantize` on a small model built here with `ModelWriter`.
final class QuantizerTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("int8-quantizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    let v = 11, d = 40, h = 70

    /// gather on wte, fc1 (io, gelu), fc2 (io, f16 weight), a layer norm, and a tied LM head (oi on wte).
    func writeModel() throws -> (path: String, weights: [String: [Float]]) {
        var rng = SeededRandom(seed: 21)
        func values(_ n: Int) -> [Float] { (0..<n).map { _ in rng.normal(0.1) } }
        let weights: [String: [Float]] = ["wte": values(v * d), "fc1.w": values(d * h), "fc1.b": values(h),
                                          "fc2.w": values(h * d), "ln.g": values(d), "ln.b": values(d)]
        let embed = ComputeGraph(name: "token_embedding", inputs: [ValueSpec(name: "input_ids", dtype: .i32, shape: [.symbol("B"), .symbol("T")])],
                                 outputs: ["embeddings"],
                                 nodes: [GraphNode(name: "wte_gather", op: "gather", inputs: ["wte", "input_ids"], outputs: ["embeddings"])])
        let decoder = ComputeGraph(name: "decoder", inputs: [ValueSpec(name: "x", dtype: .f32, shape: [.fixed(1), .fixed(d)])],
                                   outputs: ["logits"], nodes: [
            GraphNode(name: "fc1", op: "linear", inputs: ["x", "fc1.w", "fc1.b"], outputs: ["h1"], attrs: ["activation": .string("gelu_tanh")]),
            GraphNode(name: "fc2", op: "linear", inputs: ["h1", "fc2.w"], outputs: ["h2"], attrs: ["w_layout": .string("io")]),
            GraphNode(name: "ln", op: "layer_norm", inputs: ["h2", "ln.g", "ln.b"], outputs: ["h3"], attrs: ["eps": .float(1e-5)]),
            GraphNode(name: "lm_head", op: "linear", inputs: ["h3", "wte"], outputs: ["logits"], attrs: ["w_layout": .string("oi")]),
        ])
        var meta = Metadata()
        meta["model.name"] = .string("tiny")
        var writer = ModelWriter(metadata: meta, graphs: [embed, decoder], tokenizer: nil)
        writer.add(TensorSource(name: "wte", shape: [v, d], floats: weights["wte"]!))
        writer.add(TensorSource(name: "fc1.w", shape: [d, h], floats: weights["fc1.w"]!, encoding: .shuffledZstd))
        writer.add(TensorSource(name: "fc1.b", shape: [h], floats: weights["fc1.b"]!))
        let f16 = weights["fc2.w"]!.map { Float16($0).bitPattern }
        writer.add(TensorSource(name: "fc2.w", dtype: .f16, shape: [h, d], bytes: f16.withUnsafeBytes { Array($0) }))
        writer.add(TensorSource(name: "ln.g", shape: [d], floats: weights["ln.g"]!))
        writer.add(TensorSource(name: "ln.b", shape: [d], floats: weights["ln.b"]!))
        let path = folder.appendingPathComponent("tiny.ccm").path
        try writer.write(to: path)
        return (path, weights)
    }

    func floats(_ file: ModelFile, _ name: String) throws -> [Float] {
        let entry = try XCTUnwrap(file.tensor(named: name))
        XCTAssertEqual(entry.dtype, .f32)
        return Array(try file.bytes(of: entry).bindMemory(to: Float.self))
    }

    func int8s(_ file: ModelFile, _ name: String) throws -> [Int8] {
        let entry = try XCTUnwrap(file.tensor(named: name))
        XCTAssertEqual(entry.dtype, .i8)
        return Array(try file.bytes(of: entry).bindMemory(to: Int8.self))
    }

    func testPerChannelRoundTrip() throws {
        let (input, weights) = try writeModel()
        let output = folder.appendingPathComponent("tiny-int8.ccm").path
        var calls = 0
        let report = try Quantizer.quantize(input: input, output: output, options: QuantizeOptions(), progress: { _, _ in calls += 1 })
        XCTAssertGreaterThan(calls, 0)
        XCTAssertEqual(Set(report.quantizedNodes), ["fc1", "fc2", "lm_head"])
        XCTAssertEqual(Set(report.droppedTensors), ["fc1.w", "fc2.w"])
        XCTAssertLessThan(report.worstRelativeRMSError, 0.02)

        let file = try ModelFile.open(path: output)
        XCTAssertEqual(file.metadata["quantization.scheme"], .string("per_channel"))
        XCTAssertEqual(file.metadata["model.name"], .string("tiny"))
        // Float weights dropped; wte kept (gather still uses it); int8 copies + scales present.
        XCTAssertNil(file.tensor(named: "fc1.w"))
        XCTAssertNil(file.tensor(named: "fc2.w"))
        XCTAssertEqual(file.tensor(named: "wte")?.dtype, .f32)
        let decoder = try XCTUnwrap(file.graph(named: "decoder"))
        XCTAssertEqual(decoder.nodes.map(\.op), ["linear_i8", "linear_i8", "layer_norm", "linear_i8"])
        XCTAssertEqual(file.graph(named: "token_embedding")?.nodes.first?.inputs, ["wte", "input_ids"])
        let fc1 = decoder.nodes[0]
        XCTAssertEqual(fc1.attrs["activation"], .string("gelu_tanh"))
        XCTAssertEqual(fc1.attrs["scheme"], .string("per_channel"))
        XCTAssertNil(fc1.attrs["w_layout"])
        XCTAssertEqual(fc1.inputs, ["x", "fc1.w.i8", "fc1.w.i8.scales", "fc1.b"])
        XCTAssertEqual(decoder.nodes[3].inputs, ["h3", "wte.i8", "wte.i8.scales"])

        // fc1.w is [d, h] io: the int8 copy must be the transpose [h, d], within scale/2.
        let entry = try XCTUnwrap(file.tensor(named: "fc1.w.i8"))
        XCTAssertEqual(entry.shape, [h, d])
        XCTAssertEqual(entry.quantization, QuantizationInfo(scheme: "per_channel", scalesTensor: "fc1.w.i8.scales", axis: 0, blockSize: 0))
        let q = try int8s(file, "fc1.w.i8"), s = try floats(file, "fc1.w.i8.scales")
        XCTAssertEqual(s.count, h)
        let w = weights["fc1.w"]!
        for n in 0..<h {
            for k in 0..<d {
                XCTAssertLessThanOrEqual(abs(w[k * h + n] - Float(q[n * d + k]) * s[n]), s[n] / 2 * 1.0001 + 1e-9)
            }
        }
        XCTAssertTrue(q.allSatisfy { $0 >= -127 })
        // fc2.w was f16: quantized from the widened values.
        XCTAssertEqual(file.tensor(named: "fc2.w.i8")?.shape, [d, h])
        XCTAssertEqual(file.tensor(named: "wte.i8")?.shape, [v, d])
    }

    func testBlockSchemeKeepPatternAndEmbeddings() throws {
        let (input, _) = try writeModel()
        let output = folder.appendingPathComponent("tiny-block.ccm").path
        let options = QuantizeOptions(scheme: QuantizationScheme(name: "block32")!, keepPatterns: ["fc2*"], quantizeEmbeddings: true)
        let report = try Quantizer.quantize(input: input, output: output, options: options, progress: nil)
        XCTAssertEqual(Set(report.quantizedNodes), ["fc1", "lm_head"])
        XCTAssertEqual(report.keptNodes, ["fc2"])
        XCTAssertEqual(report.quantizedEmbeddings, ["wte_gather"])
        let file = try ModelFile.open(path: output)
        XCTAssertEqual(file.metadata["quantization.scheme"], .string("block"))
        XCTAssertEqual(file.metadata["quantization.block_size"], .int(32))
        XCTAssertEqual(file.tensor(named: "fc2.w")?.dtype, .f16)
        XCTAssertNil(file.tensor(named: "wte"), "the float table is dropped once gather and the head use the int8 copy")
        XCTAssertEqual(file.graph(named: "token_embedding")?.nodes.first?.inputs, ["wte.i8", "input_ids"])
        let fc1 = try XCTUnwrap(file.graph(named: "decoder")?.nodes.first)
        XCTAssertEqual(fc1.attrs["scheme"], .string("block"))
        XCTAssertEqual(fc1.attrs["block"], .int(32))
        XCTAssertEqual(file.tensor(named: "fc1.w.i8.scales")?.shape, [h, 2])   // ceil(40 / 32)
        XCTAssertEqual(file.tensor(named: "fc1.w.i8")?.quantization?.blockSize, 32)
    }

    func testErrorsLeaveNoOutput() throws {
        let (input, _) = try writeModel()
        let output = folder.appendingPathComponent("out.ccm").path
        XCTAssertThrowsError(try Quantizer.quantize(input: input, output: output, options: QuantizeOptions(keepPatterns: ["*"]), progress: nil)) { error in
            XCTAssertTrue("\(error)".contains("no linear layer"), "\(error)")
        }
        XCTAssertThrowsError(try Quantizer.quantize(input: input, output: input, options: QuantizeOptions(), progress: nil))
        let bogus = folder.appendingPathComponent("bogus.ccm").path
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: bogus))
        XCTAssertThrowsError(try Quantizer.quantize(input: bogus, output: output, options: QuantizeOptions(), progress: nil)) { error in
            XCTAssertTrue("\(error)".contains(bogus))
        }
        // Quantizing an already-quantized model finds nothing to do.
        let once = folder.appendingPathComponent("once.ccm").path
        _ = try Quantizer.quantize(input: input, output: once, options: QuantizeOptions(), progress: nil)
        XCTAssertThrowsError(try Quantizer.quantize(input: once, output: output, options: QuantizeOptions(), progress: nil))
        XCTAssertFalse(FileManager.default.fileExists(atPath: output))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [])
    }
}
