import CCMFormat
import Foundation

/// Builds a tiny captioning model file by hand (random weights, fixed seed) with the four
/// graphs of the pipeline, so engine tests need no converter and no PyTorch.
enum TinyModel {
    static let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "一", "个", "红", "色", "的", "圆", "形", "和"]
    static let imageSize = 32, embed = 8, prefix = 2, width = 16, heads = 2, positions = 32, hidden = 32

    /// Sizes of the model; the defaults make a model that loads and runs in milliseconds.
    struct Dims {
        var imageSize = TinyModel.imageSize, embed = TinyModel.embed, prefix = TinyModel.prefix
        var width = TinyModel.width, heads = TinyModel.heads, positions = TinyModel.positions, hidden = TinyModel.hidden
    }

    struct Rng {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000
        }
        mutating func values(_ n: Int, scale: Float) -> [Float] { (0..<n).map { _ in next() * scale } }
    }

    /// Writes the model to `path` and returns it.
    @discardableResult
    static func write(to path: String, seed: UInt64 = 7, encoding: TensorEncoding = .raw, dims: Dims = Dims()) throws -> String {
        var rng = Rng(state: seed)
        let V = vocab.count, D = dims.width, E = dims.embed, P = dims.prefix
        let imageSize = dims.imageSize, positions = dims.positions, hidden = dims.hidden, heads = dims.heads
        var tensors: [(String, [Int], [Float])] = []
        func add(_ name: String, _ shape: [Int], scale: Float) { tensors.append((name, shape, rng.values(shape.reduce(1, *), scale: scale))) }
        func ones(_ name: String, _ n: Int) { tensors.append((name, [n], (0..<n).map { _ in 1 + rng.next() * 0.1 })) }
        add("img.w", [3 * imageSize * imageSize, E], scale: 0.05); add("img.b", [E], scale: 0.1)
        add("map.w", [E, P * D], scale: 0.8); add("map.b", [P * D], scale: 0.1)
        add("wte", [V, D], scale: 1.0); add("wpe", [positions, D], scale: 0.3)
        ones("ln1.g", D); add("ln1.b", [D], scale: 0.1)
        add("attn.w", [D, 3 * D], scale: 0.4); add("attn.b", [3 * D], scale: 0.1)
        add("proj.w", [D, D], scale: 0.4); add("proj.b", [D], scale: 0.1)
        ones("ln2.g", D); add("ln2.b", [D], scale: 0.1)
        add("fc.w", [D, hidden], scale: 0.4); add("fc.b", [hidden], scale: 0.1)
        add("out.w", [hidden, D], scale: 0.3); add("out.b", [D], scale: 0.1)
        ones("lnf.g", D); add("lnf.b", [D], scale: 0.1)

        func n(_ name: String, _ op: String, _ inputs: [String], _ attrs: [String: AttrValue] = [:]) -> GraphNode {
            GraphNode(name: name, op: op, inputs: inputs, outputs: [name], attrs: attrs)
        }
        let encoder = ComputeGraph(
            name: "image_encoder",
            inputs: [ValueSpec(name: "pixel_values", dtype: .f32, shape: [.fixed(1), .fixed(3), .fixed(imageSize), .fixed(imageSize)])],
            outputs: ["image_embedding"],
            nodes: [
                n("flat", "reshape", ["pixel_values"], ["shape": .ints([1, -1])]),
                n("image_embedding", "linear", ["flat", "img.w", "img.b"]),
            ])
        let mapper = ComputeGraph(
            name: "mapper",
            inputs: [ValueSpec(name: "image_embedding", dtype: .f32, shape: [.fixed(1), .fixed(E)])],
            outputs: ["prefix_embeddings"],
            nodes: [
                n("mapped", "linear", ["image_embedding", "map.w", "map.b"], ["activation": .string("tanh")]),
                n("prefix_embeddings", "reshape", ["mapped"], ["shape": .ints([1, Int64(P), Int64(D)])]),
            ])
        let embedding = ComputeGraph(
            name: "token_embedding",
            inputs: [ValueSpec(name: "input_ids", dtype: .i32, shape: [.symbol("B"), .symbol("T")])],
            outputs: ["embeddings"],
            nodes: [n("embeddings", "gather", ["wte", "input_ids"])])
        let decoder = ComputeGraph(
            name: "decoder",
            inputs: [ValueSpec(name: "inputs_embeds", dtype: .f32, shape: [.symbol("B"), .symbol("T"), .fixed(D)])],
            outputs: ["logits"],
            states: [ValueSpec(name: "k_cache.0", dtype: .f32, shape: [.symbol("B"), .symbol("max_ctx"), .fixed(D)]),
                     ValueSpec(name: "v_cache.0", dtype: .f32, shape: [.symbol("B"), .symbol("max_ctx"), .fixed(D)])],
            nodes: [
                n("pos", "slice", ["wpe"], ["axis": .int(0), "start": .symbol("n_past"), "length": .symbol("T")]),
                n("h0", "add", ["inputs_embeds", "pos"]),
                n("ln1", "layer_norm", ["h0", "ln1.g", "ln1.b"], ["eps": .float(1e-5)]),
                n("qkv", "linear", ["ln1", "attn.w", "attn.b"]),
                n("q", "slice", ["qkv"], ["axis": .int(2), "start": .int(0), "length": .int(Int64(D))]),
                n("k", "slice", ["qkv"], ["axis": .int(2), "start": .int(Int64(D)), "length": .int(Int64(D))]),
                n("v", "slice", ["qkv"], ["axis": .int(2), "start": .int(Int64(2 * D)), "length": .int(Int64(D))]),
                n("att", "attention_cached", ["q", "k", "v", "k_cache.0", "v_cache.0"], ["heads": .int(Int64(heads))]),
                n("proj", "linear", ["att", "proj.w", "proj.b"]),
                n("h1", "add", ["h0", "proj"]),
                n("ln2", "layer_norm", ["h1", "ln2.g", "ln2.b"], ["eps": .float(1e-5)]),
                n("fc", "linear", ["ln2", "fc.w", "fc.b"], ["activation": .string("gelu_tanh")]),
                n("out", "linear", ["fc", "out.w", "out.b"]),
                n("h2", "add", ["h1", "out"]),
                n("lnf", "layer_norm", ["h2", "lnf.g", "lnf.b"], ["eps": .float(1e-5)]),
                n("last", "slice", ["lnf"], ["axis": .int(1), "start": .int(-1)]),
                n("head", "linear", ["last", "wte"], ["w_layout": .string("oi")]),
                n("logits", "reshape", ["head"], ["shape": .ints([0, -1])]),
            ])
        var meta = Metadata()
        meta["clipcap.architecture"] = .string("tiny test model")
        meta["clipcap.prefix_length"] = .int(Int64(P))
        meta["image.size"] = .int(Int64(imageSize))
        meta["decoder.hidden_size"] = .int(Int64(D))
        meta["decoder.vocab_size"] = .int(Int64(V))
        meta["decoder.max_context"] = .int(Int64(positions))
        meta["tokenizer.kind"] = .string("wordpiece")
        meta["generation.stop_token_ids"] = .ints([3])
        meta["generation.banned_token_ids"] = .ints([1])
        var writer = ModelWriter(metadata: meta, graphs: [encoder, mapper, embedding, decoder],
                                 tokenizer: TokenizerSpec(kind: "wordpiece", vocab: vocab))
        for (name, shape, values) in tensors {
            writer.add(TensorSource(name: name, shape: shape, floats: values, encoding: encoding))
        }
        try writer.write(to: path)
        return path
    }

    /// A temporary folder for one test.
    static func temporaryDirectory() -> String {
        let dir = NSTemporaryDirectory() + "clipcap-tests-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A deterministic test image.
    static func pixels(width: Int = 40, height: Int = 36, seed: Int = 1) -> [UInt8] {
        (0..<(width * height * 3)).map { UInt8(truncatingIfNeeded: ($0 * 37 + seed * 101 + ($0 / 3) % 7 * 13) % 256) }
    }
}
