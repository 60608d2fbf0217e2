import CCMFormat
import Foundation
import XCTest
@testable import ModelConverter

final class SHA256Tests: XCTestCase {
    func testKnownVectors() {
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}

final class WeightTransformTests: XCTestCase {
    func testTransposeRowsAndConversions() throws {
        // [2, 3] f32: 0 1 2 / 3 4 5
        let source = ElementConversion.encodeF32([0, 1, 2, 3, 4, 5])
        let t = PlannedTensor.rearrange(source, elementSize: 4, sourceShape: [2, 3], transform: .transpose)
        XCTAssertEqual(ElementConversion.decodeF32(t), [0, 3, 1, 4, 2, 5])
        let r = PlannedTensor.rearrange(source, elementSize: 4, sourceShape: [2, 3], transform: .rows(1..<2))
        XCTAssertEqual(ElementConversion.decodeF32(r), [3, 4, 5])
        // [3, 2]: rows 1..<3 transposed -> [2, 2]
        let s2 = ElementConversion.encodeF32([0, 1, 2, 3, 4, 5])
        let rt = PlannedTensor.rearrange(s2, elementSize: 4, sourceShape: [3, 2], transform: .rowsTransposed(1..<3))
        XCTAssertEqual(ElementConversion.decodeF32(rt), [2, 4, 3, 5])
        // conv1-like [W=2, 1, 2, 2] viewed as [2, 4] and transposed to [4, 2].
        let conv = PlannedTensor.rearrange(ElementConversion.encodeF32((0..<8).map(Float.init)), elementSize: 4,
                                           sourceShape: [2, 1, 2, 2], transform: .transpose)
        XCTAssertEqual(ElementConversion.decodeF32(conv), [0, 4, 1, 5, 2, 6, 3, 7])
        // f16 and bf16 widen exactly; f32 -> f16 rounds to nearest.
        let half = ElementConversion.encodeF16([1.5, -2, 65504])
        XCTAssertEqual(try ElementConversion.convert(half, from: .f16, to: .f32, tensorName: "x"),
                       ElementConversion.encodeF32([1.5, -2, 65504]))
        let bf16: [UInt8] = [0x80, 0x3F, 0x00, 0xC0] // 1.0, -2.0
        XCTAssertEqual(ElementConversion.decodeBF16(bf16), [1, -2])
        XCTAssertThrowsError(try ElementConversion.convert([0, 0, 0, 0], from: .i32, to: .f32, tensorName: "ids"))
    }
}

final class GraphValidatorTests: XCTestCase {
    private let tensors: [String: (DType, [Int])] = ["w": (.f32, [4, 3]), "b": (.f32, [3]), "g": (.f32, [3])]

    private func graph(_ nodes: [GraphNode], outputs: [String] = ["y"]) -> ComputeGraph {
        ComputeGraph(name: "g", inputs: [ValueSpec(name: "x", dtype: .f32, shape: [.symbol("B"), .symbol("T"), .fixed(4)])],
                     outputs: outputs, nodes: nodes)
    }

    private func expectInvalid(_ g: ComputeGraph, _ fragment: String, line: UInt = #line) {
        XCTAssertThrowsError(try GraphValidator.validate(g, tensors: tensors), line: line) { error in
            XCTAssertTrue(String(describing: error).contains(fragment), "\(error)", line: line)
        }
    }

    func testValidGraph() throws {
        let g = graph([GraphNode(name: "lin", op: "linear", inputs: ["x", "w", "b"], outputs: ["h"], attrs: ["activation": .string("tanh")]),
                       GraphNode(name: "ln", op: "layer_norm", inputs: ["h", "g", "b"], outputs: ["y"], attrs: ["eps": .float(1e-5)])])
        XCTAssertNoThrow(try GraphValidator.validate(g, tensors: tensors))
    }

    func testRejections() {
        expectInvalid(graph([GraphNode(name: "n", op: "max_pool2d", inputs: ["x"], outputs: ["y"])]), "unknown operator")
        expectInvalid(graph([GraphNode(name: "n", op: "conv2d", inputs: ["x"], outputs: ["y"])]), "conv2d takes 2...3 inputs")
        expectInvalid(graph([GraphNode(name: "n", op: "tanh", inputs: ["nope"], outputs: ["y"])]), "not defined before use")
        expectInvalid(graph([GraphNode(name: "n", op: "layer_norm", inputs: ["x", "g", "b"], outputs: ["y"])]), "missing attribute 'eps'")
        expectInvalid(graph([GraphNode(name: "n", op: "tanh", inputs: ["x"], outputs: ["z"])]), "output 'y' is not produced")
        // Weight [4, 3] read as "oi" means K = 3, but x has 4 columns.
        expectInvalid(graph([GraphNode(name: "n", op: "linear", inputs: ["x", "w", ""], outputs: ["y"], attrs: ["w_layout": .string("oi")])]),
                      "differ")
        expectInvalid(graph([GraphNode(name: "n", op: "reshape", inputs: ["x"], outputs: ["y"], attrs: ["shape": .ints([-1, -1])])]),
                      "more than one -1")
        expectInvalid(graph([GraphNode(name: "a", op: "tanh", inputs: ["x"], outputs: ["y"]),
                             GraphNode(name: "a", op: "tanh", inputs: ["y"], outputs: ["z"])]), "unique")
        expectInvalid(graph([GraphNode(name: "n", op: "attention_cached", inputs: ["x", "x", "x", "x", "x"], outputs: ["y"],
                                       attrs: ["heads": .int(2)])]), "must be a graph state")
    }

    func testConverterGraphsForSeedSizes() throws {
        // Real ViT-B/32 and 12-layer GPT-2 sizes: the builders' graphs validate symbolically.
        let hp = VisionHyperparameters(imageSize: 224, patchSize: 32, width: 768, layers: 12, heads: 12, mlpWidth: 3072,
                                       embedDim: 512, layerNormEps: 1e-5, activation: "quick_gelu", mean: [], std: [])
        var table: [String: (DType, [Int])] = ["clip.patch_embed.weight": (.f32, [3072, 768]), "clip.class_embedding": (.f32, [1, 1, 768]),
                                               "clip.positional_embedding": (.f32, [50, 768]), "clip.proj.weight": (.f32, [768, 512])]
        for n in ["clip.ln_pre", "clip.ln_post"] { table[n + ".weight"] = (.f32, [768]); table[n + ".bias"] = (.f32, [768]) }
        for l in 0..<12 {
            let p = "clip.layers.\(l)."
            for n in ["ln_1", "ln_2"] { table[p + n + ".weight"] = (.f32, [768]); table[p + n + ".bias"] = (.f32, [768]) }
            for n in ["attn.q", "attn.k", "attn.v", "attn.out"] { table[p + n + ".weight"] = (.f32, [768, 768]); table[p + n + ".bias"] = (.f32, [768]) }
            table[p + "mlp.fc1.weight"] = (.f32, [768, 3072]); table[p + "mlp.fc1.bias"] = (.f32, [3072])
            table[p + "mlp.fc2.weight"] = (.f32, [3072, 768]); table[p + "mlp.fc2.bias"] = (.f32, [768])
        }
        XCTAssertNoThrow(try GraphValidator.validate(ClipVisionConverter.buildGraph(hp), tensors: table))
        table["clip.proj.weight"] = (.f32, [512, 768])
        XCTAssertThrowsError(try GraphValidator.validate(ClipVisionConverter.buildGraph(hp), tensors: table))
    }
}

final class TokenizerLoaderTests: XCTestCase {
    func testWordPieceAndBPEFolders() throws {
        let zh = try TokenizerLoader.load(folder: Fixtures.path("gpt2-zh"), config: JSONObject())
        XCTAssertEqual(zh.kind, "wordpiece")
        XCTAssertEqual(zh.vocab.count, 1000)
        XCTAssertEqual([zh.vocab[0], zh.vocab[100], zh.vocab[101], zh.vocab[102]], ["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
        XCTAssertEqual(zh.options["do_lower_case"]?.boolValue, true)
        let en = try TokenizerLoader.load(folder: Fixtures.path("gpt2-en"), config: JSONObject())
        XCTAssertEqual(en.kind, "bpe")
        XCTAssertEqual(en.vocab.first, "<|endoftext|>")
        XCTAssertTrue(en.merges.allSatisfy { $0.split(separator: " ").count == 2 })
        XCTAssertEqual(en.vocab.count, 256 + 1 + en.merges.count, "byte alphabet + special + one token per merge")
        XCTAssertThrowsError(try TokenizerLoader.load(folder: Fixtures.path("bert"), config: JSONObject()))
    }
}
