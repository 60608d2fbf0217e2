import CCMFormat

/// GPT-2 sizes and settings, from `config.json` and the weights.
struct GPT2Settings {
    var hidden: Int
    var vocab: Int
    var layers: Int
    var heads: Int
    var positions: Int
    var inner: Int
    var layerNormEps: Double
    var activation: String
    /// `scale_attn_weights` (default true): scores divided by sqrt(head_dim).
    var scaleAttention: Bool
    /// `scale_attn_by_inverse_layer_idx`: scores further divided by layer index + 1.
    var scaleByLayer: Bool
    /// Whether the LM head is `wte` itself (tied).
    var tiedHead: Bool
}

/// Builds the `token_embedding` and `decoder` graphs of a GPT-2 LM (HF `GPT2LMHeadModel`).
enum GPT2Converter {
    /// Where the GPT-2 tensors sit in a file: `gpt2.` (ClipCap-Chinese), `gpt.` (ClipCap) or none (HF).
    static func detectPrefix(_ ws: WeightSet) -> String? {
        for prefix in ["gpt2.", "gpt.", ""] where ws.has(prefix + "transformer.wte.weight") { return prefix }
        if ws.has("wte.weight") { return "bare" } // a GPT2Model saved without the LM head wrapper
        return nil
    }

    static func convert(_ ws: WeightSet, prefix detected: String, config: JSONObject, configPath: String,
                        matrixType: DType?) throws -> (embedding: ConvertedPart, decoder: ConvertedPart, settings: GPT2Settings) {
        let root = detected == "bare" ? "" : detected
        let t = detected == "bare" ? "" : detected + "transformer."
        guard let wte = ws.shape(t + "wte.weight"), wte.count == 2, let wpe = ws.shape(t + "wpe.weight"), wpe.count == 2 else {
            throw ConvertError.unknownArchitecture(role: ws.role, path: ws.path, reason: "GPT-2 needs \(t)wte.weight and \(t)wpe.weight")
        }
        let d = wte[1], v = wte[0]
        guard let heads = config.int("n_head") ?? config.int("num_attention_heads"), heads > 0, d % heads == 0 else {
            throw ConvertError.badConfig(path: configPath, reason: "n_head is missing or does not divide n_embd \(d)")
        }
        if let n = config.int("n_embd"), n != d {
            throw ConvertError.badConfig(path: configPath, reason: "n_embd \(n) does not match the weights (wte is [\(v), \(d)]); is this the config of the GPT-2 the checkpoint was trained with?")
        }
        if let cv = config.int("vocab_size"), cv != v {
            throw ConvertError.badConfig(path: configPath, reason: "vocab_size \(cv) does not match the weights (wte has \(v) rows)")
        }
        let layers = ClipVisionConverter.layerCount(ws, prefix: t + "h.")
        if let n = config.int("n_layer"), n != layers {
            throw ConvertError.badConfig(path: configPath, reason: "n_layer \(n) but the weights have \(layers) layers (\(t)h.N)")
        }
        let actName = config.string("activation_function") ?? "gelu_new"
        guard let activation = Activation.opName(forHF: actName) else {
            throw ConvertError.badConfig(path: configPath, reason: "activation_function '\(actName)' is not supported")
        }
        if config.bool("add_cross_attention") == true {
            throw ConvertError.badConfig(path: configPath, reason: "add_cross_attention GPT-2 models are not supported")
        }
        let inner = ws.shape(t + "h.0.mlp.c_fc.weight").flatMap { $0.count == 2 ? $0[1] : nil } ?? config.int("n_inner") ?? 4 * d
        var settings = GPT2Settings(hidden: d, vocab: v, layers: layers, heads: heads, positions: wpe[0], inner: inner,
                                    layerNormEps: config.double("layer_norm_epsilon") ?? 1e-5, activation: activation,
                                    scaleAttention: config.bool("scale_attn_weights") ?? true,
                                    scaleByLayer: config.bool("scale_attn_by_inverse_layer_idx") ?? false,
                                    tiedHead: true)
        guard layers > 0 else {
            throw ConvertError.unknownArchitecture(role: ws.role, path: ws.path, reason: "no GPT-2 layers (\(t)h.0.*) found")
        }

        var planner = TensorPlanner(matrixType: matrixType)
        if let w = ws.require(t + "wte.weight", shape: [v, d]) { planner.add("gpt2.wte", w, shape: [v, d], matrix: true) }
        if let p = ws.require(t + "wpe.weight", shape: [wpe[0], d]) { planner.plain("gpt2.wpe", p) }
        for l in 0..<layers {
            let s = t + "h.\(l).", o = "gpt2.h.\(l)."
            ClipVisionConverter.planNorm(ws, &planner, s + "ln_1", o + "ln_1", d)
            planConv1D(ws, &planner, s + "attn.c_attn", o + "attn.c_attn", inputs: d, outputs: 3 * d)
            planConv1D(ws, &planner, s + "attn.c_proj", o + "attn.c_proj", inputs: d, outputs: d)
            ClipVisionConverter.planNorm(ws, &planner, s + "ln_2", o + "ln_2", d)
            planConv1D(ws, &planner, s + "mlp.c_fc", o + "mlp.c_fc", inputs: d, outputs: inner)
            planConv1D(ws, &planner, s + "mlp.c_proj", o + "mlp.c_proj", inputs: inner, outputs: d)
        }
        ClipVisionConverter.planNorm(ws, &planner, t + "ln_f", "gpt2.ln_f", d)

        // The LM head: tied to wte unless the file holds a different matrix.
        let headName = root + "lm_head.weight"
        if ws.has(headName) {
            if let head = ws.require(headName, shape: [v, d]), let table = ws.shape(t + "wte.weight"), table == [v, d] {
                let same = try sameBytes(head, ws, t + "wte.weight")
                if !same {
                    settings.tiedHead = false
                    planner.add("gpt2.lm_head", head, shape: [v, d], matrix: true)
                }
            }
        }
        ws.skip { $0.hasPrefix(t + "h.") && KnownBuffers.isBuffer($0) }

        let embedding = ComputeGraph(
            name: "token_embedding",
            inputs: [ValueSpec(name: "input_ids", dtype: .i32, shape: [.symbol("B"), .symbol("T")])],
            outputs: ["embeddings"],
            nodes: [GraphNode(name: "gather", op: "gather", inputs: ["gpt2.wte", "input_ids"], outputs: ["embeddings"])])
        let decoder = buildDecoder(settings)
        let embeddingPart = ConvertedPart(graph: embedding, tensors: [])
        return (embeddingPart, ConvertedPart(graph: decoder, tensors: planner.tensors), settings)
    }

    /// GPT-2 `Conv1D`: weight already [in, out], bias [out].
    private static func planConv1D(_ ws: WeightSet, _ planner: inout TensorPlanner, _ source: String, _ dest: String,
                                   inputs: Int, outputs: Int) {
        if let w = ws.require(source + ".weight", shape: [inputs, outputs]) { planner.ioWeight(dest + ".weight", w) }
        if let b = ws.require(source + ".bias", shape: [outputs]) { planner.plain(dest + ".bias", b) }
    }

    private static func sameBytes(_ head: InputTensor, _ ws: WeightSet, _ table: String) throws -> Bool {
        guard let wte = ws.require(table, shape: head.shape), wte.dtype == head.dtype else { return false }
        return try head.load() == wte.load()
    }

    /// inputs_embeds [B, T, D], position_ids i32 [B, T], past_lengths i32 [B] (+ KV caches)
    /// -> logits [B, V] of the last position. Every row has its own position and cached length
    /// (continuous batching: rows of captions started at different steps); docs/OPS.md.
    static func buildDecoder(_ s: GPT2Settings) -> ComputeGraph {
        let d = s.hidden, eps = s.layerNormEps
        var b = GraphBuilder()
        let pos = b.add("gather", "positions", ["gpt2.wpe", "position_ids"])
        var x = b.add("add", "with_positions", ["inputs_embeds", pos])
        var states: [ValueSpec] = []
        let headDim = Double(d / s.heads)
        for l in 0..<s.layers {
            let t = "gpt2.h.\(l).", n = "h\(l)."
            states.append(ValueSpec(name: "k_cache.\(l)", dtype: .f32, shape: [.symbol("B"), .symbol("max_ctx"), .fixed(d)]))
            states.append(ValueSpec(name: "v_cache.\(l)", dtype: .f32, shape: [.symbol("B"), .symbol("max_ctx"), .fixed(d)]))
            let h = b.layerNorm(n + "ln_1", x, gamma: t + "ln_1.weight", beta: t + "ln_1.bias", eps: eps)
            let qkv = b.linear(n + "c_attn", h, w: t + "attn.c_attn.weight", b: t + "attn.c_attn.bias")
            let q = b.slice(n + "q", qkv, axis: 2, start: .int(0), length: .int(Int64(d)))
            let k = b.slice(n + "k", qkv, axis: 2, start: .int(Int64(d)), length: .int(Int64(d)))
            let v = b.slice(n + "v", qkv, axis: 2, start: .int(Int64(2 * d)), length: .int(Int64(d)))
            var scale = s.scaleAttention ? 1 / headDim.squareRoot() : 1
            if s.scaleByLayer { scale /= Double(l + 1) }
            let a = b.add("attention_cached", n + "attn", [q, k, v, "k_cache.\(l)", "v_cache.\(l)", "past_lengths"],
                          ["heads": .int(Int64(s.heads)), "scale": .float(scale)])
            let o = b.linear(n + "attn_proj", a, w: t + "attn.c_proj.weight", b: t + "attn.c_proj.bias")
            x = b.add("add", n + "attn_residual", [x, o])
            let h2 = b.layerNorm(n + "ln_2", x, gamma: t + "ln_2.weight", beta: t + "ln_2.bias", eps: eps)
            let f = b.linear(n + "c_fc", h2, w: t + "mlp.c_fc.weight", b: t + "mlp.c_fc.bias", activation: s.activation)
            let m = b.linear(n + "mlp_proj", f, w: t + "mlp.c_proj.weight", b: t + "mlp.c_proj.bias")
            x = b.add("add", n + "mlp_residual", [x, m])
        }
        x = b.layerNorm("ln_f", x, gamma: "gpt2.ln_f.weight", beta: "gpt2.ln_f.bias", eps: eps)
        x = b.slice("last_position", x, axis: 1, start: .int(-1), length: .int(1))
        // Tied head: wte [V, D] is used as-is ("oi"), no transposed copy.
        x = b.linear("lm_head", x, w: s.tiedHead ? "gpt2.wte" : "gpt2.lm_head", b: nil, layout: "oi")
        b.reshape("logits", x, [0, s.vocab], output: "logits")
        return ComputeGraph(name: "decoder",
                            inputs: [ValueSpec(name: "inputs_embeds", dtype: .f32, shape: [.symbol("B"), .symbol("T"), .fixed(d)]),
                                     ValueSpec(name: "position_ids", dtype: .i32, shape: [.symbol("B"), .symbol("T")]),
                                     ValueSpec(name: "past_lengths", dtype: .i32, shape: [.symbol("B")])],
                            outputs: ["logits"], states: states, nodes: b.nodes)
    }
}
