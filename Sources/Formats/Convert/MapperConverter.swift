import CCMFormat

/// The mapping network between the CLIP embedding and GPT-2's input embeddings.
public enum MappingType: String, Sendable, CaseIterable {
    /// Linear -> tanh -> Linear (`clip_project.model.0/2`), both ClipCap and ClipCap-Chinese.
    case mlp
    /// ClipCap-Chinese `BertMapper` (`clip_project.linear`, `prefix_const`, `bert.*`).
    case bert
    /// Original ClipCap `TransformerMapper` (`clip_project.linear`, `prefix_const`, `transformer.layers.*`).
    case transformer

    /// The name with its article, for messages: "an MLP", "a BERT", "a transformer".
    var withArticle: String {
        switch self {
        case .mlp: return "an MLP"
        case .bert: return "a BERT"
        case .transformer: return "a transformer"
        }
    }

    /// Detects the mapping from checkpoint keys.
    static func detect(_ weights: WeightSet) -> MappingType? {
        if weights.has("clip_project.model.0.weight") { return .mlp }
        if !weights.names(withPrefix: "clip_project.bert.").isEmpty { return .bert }
        if !weights.names(withPrefix: "clip_project.transformer.").isEmpty { return .transformer }
        return nil
    }
}

/// What the mapper converter learned about the mapper.
struct MapperInfo {
    var mapping: MappingType
    /// Prefix vectors the mapper outputs (P).
    var prefixLength: Int
    /// Projected image vectors fed to the BERT/transformer mapper alongside the constants.
    var projectedLength: Int
    var layers: Int
}

/// Settings of a BERT mapper (ClipCap-Chinese), from the BERT `config.json`.
struct BertSettings {
    var heads: Int
    var layerNormEps: Double
    var activation: String
    var intermediate: Int?
}

/// Builds the `mapper` graph: image_embedding [B, E] -> prefix_embeddings [B, P, D] (MLP; the
/// BERT and transformer mappers take one image, [1, E]).
enum MapperConverter {
    static let source = "clip_project."

    static func convert(_ ws: WeightSet, mapping: MappingType, embedDim e: Int, hidden d: Int,
                        options: ConvertOptions, bert: BertSettings?, matrixType: DType?) throws -> (ConvertedPart, MapperInfo) {
        var planner = TensorPlanner(matrixType: matrixType)
        var b = GraphBuilder()
        var x = "image_embedding"
        if options.normalizePrefix {
            // ClipCap's --normalize_prefix: prefix / prefix.norm(2, -1), before the mapper.
            x = b.add("l2_normalize", "normalize", [x])
        }
        let info: MapperInfo
        switch mapping {
        case .mlp:
            info = try mlp(ws, &planner, &b, x: x, e: e, d: d, options: options)
        case .bert:
            guard let bert else {
                throw ConvertError.invalidOption("the checkpoint has a BERT mapper: pass --bert DIR, the folder with the BERT config.json (heads, layer_norm_eps, hidden_act)")
            }
            info = try bertMapper(ws, &planner, &b, x: x, e: e, d: d, options: options, settings: bert)
        case .transformer:
            info = try transformerMapper(ws, &planner, &b, x: x, e: e, d: d, options: options)
        }
        // The MLP maps a batch of images per run; the BERT and transformer mappers one image
        // (their graphs concatenate constants along a batch of one).
        let batch: Dim = mapping == .mlp ? .symbol("B") : .fixed(1)
        let graph = ComputeGraph(name: "mapper",
                                 inputs: [ValueSpec(name: "image_embedding", dtype: .f32, shape: [batch, .fixed(e)])],
                                 outputs: ["prefix_embeddings"], nodes: b.nodes)
        return (ConvertedPart(graph: graph, tensors: planner.tensors), info)
    }

    // MARK: MLP

    private static func mlp(_ ws: WeightSet, _ planner: inout TensorPlanner, _ b: inout GraphBuilder,
                            x: String, e: Int, d: Int, options: ConvertOptions) throws -> MapperInfo {
        let s = source + "model."
        guard let w0 = ws.shape(s + "0.weight"), w0.count == 2, let w2 = ws.shape(s + "2.weight"), w2.count == 2 else {
            throw ConvertError.unknownArchitecture(role: "checkpoint", path: ws.path,
                reason: "an MLP mapper needs clip_project.model.0.weight and clip_project.model.2.weight (Linear -> Tanh -> Linear)")
        }
        let hidden = w0[0], out = w2[0]
        guard out % d == 0, out / d > 0 else {
            throw ConvertError.unknownArchitecture(role: "checkpoint", path: ws.path,
                reason: "clip_project.model.2 outputs \(out) values, not a multiple of the GPT-2 width \(d)")
        }
        let p = out / d
        try checkLength(options.prefixLength, p, what: "--prefix-len", detail: "clip_project.model.2 produces \(p) vectors of \(d)")
        ClipVisionConverter.planLinear(ws, &planner, s + "0", "mapper.mlp.0", inputs: e, outputs: hidden)
        ClipVisionConverter.planLinear(ws, &planner, s + "2", "mapper.mlp.2", inputs: hidden, outputs: out)
        if ws.has(s + "4.weight") {
            throw ConvertError.unknownArchitecture(role: "checkpoint", path: ws.path,
                reason: "the MLP mapper has more than two Linear layers (clip_project.model.4); only Linear -> Tanh -> Linear is supported")
        }
        var h = b.linear("mlp.0", x, w: "mapper.mlp.0.weight", b: "mapper.mlp.0.bias", activation: "tanh")
        h = b.linear("mlp.2", h, w: "mapper.mlp.2.weight", b: "mapper.mlp.2.bias")
        b.reshape("prefix", h, [0, p, d], output: "prefix_embeddings")
        return MapperInfo(mapping: .mlp, prefixLength: p, projectedLength: 0, layers: 2)
    }

    // MARK: shared by BERT and transformer mappers

    /// linear(x) viewed as [1, P_proj, D], followed by `prefix_const` [C, D] along axis 1.
    private static func projectAndConcat(_ ws: WeightSet, _ planner: inout TensorPlanner, _ b: inout GraphBuilder,
                                         x: String, e: Int, d: Int) throws -> (value: String, projected: Int, constants: Int) {
        guard let lw = ws.shape(source + "linear.weight"), lw.count == 2, lw[0] % d == 0, lw[0] > 0,
              let pc = ws.shape(source + "prefix_const"), pc.count == 2, pc[0] > 0 else {
            throw ConvertError.unknownArchitecture(role: "checkpoint", path: ws.path,
                reason: "expected clip_project.linear.weight [n·\(d), \(e)] and clip_project.prefix_const [n, \(d)]")
        }
        let projected = lw[0] / d, constants = pc[0]
        ClipVisionConverter.planLinear(ws, &planner, source + "linear", "mapper.linear", inputs: e, outputs: projected * d)
        if let c = ws.require(source + "prefix_const", shape: [constants, d]) {
            planner.plain("mapper.prefix_const", c, shape: [1, constants, d])
        }
        var h = b.linear("linear", x, w: "mapper.linear.weight", b: "mapper.linear.bias")
        h = b.reshape("projected", h, [1, projected, d])
        h = b.add("concat", "with_constants", [h, "mapper.prefix_const"], ["axis": .int(1)])
        return (h, projected, constants)
    }

    private static func checkLength(_ given: Int?, _ found: Int, what: String, detail: String) throws {
        if let given, given != found {
            throw ConvertError.invalidOption("\(what) \(given) does not match the checkpoint: \(detail). Omit \(what) or pass \(found).")
        }
    }

    // MARK: BERT (ClipCap-Chinese BertMapper)

    /// `BertModel(inputs_embeds=cat(linear(x).view(P, D), prefix_const)).last_hidden_state[:, P:]`.
    private static func bertMapper(_ ws: WeightSet, _ planner: inout TensorPlanner, _ b: inout GraphBuilder,
                                   x: String, e: Int, d: Int, options: ConvertOptions,
                                   settings: BertSettings) throws -> MapperInfo {
        let (joined, projected, constants) = try projectAndConcat(ws, &planner, &b, x: x, e: e, d: d)
        try checkLength(options.prefixLength, projected, what: "--prefix-len", detail: "clip_project.linear projects to \(projected) vectors")
        try checkLength(options.constantLength, constants, what: "--constant-len", detail: "clip_project.prefix_const has \(constants) rows")
        let total = projected + constants
        let s = source + "bert."
        guard let posShape = ws.shape(s + "embeddings.position_embeddings.weight"), posShape.count == 2, posShape[0] >= total,
              let typeShape = ws.shape(s + "embeddings.token_type_embeddings.weight"), typeShape.count == 2, typeShape[0] >= 1 else {
            throw ConvertError.unknownArchitecture(role: "checkpoint", path: ws.path,
                reason: "the BERT mapper needs bert.embeddings.position_embeddings (at least \(total) rows) and token_type_embeddings")
        }
        guard d % settings.heads == 0 else {
            throw ConvertError.invalidOption("BERT num_attention_heads \(settings.heads) does not divide the width \(d)")
        }
        let layers = ClipVisionConverter.layerCount(ws, prefix: s + "encoder.layer.")
        let inter = ws.shape(s + "encoder.layer.0.intermediate.dense.weight")?.first ?? settings.intermediate ?? 4 * d
        if let p = ws.require(s + "embeddings.position_embeddings.weight", shape: [posShape[0], d]) {
            planner.plain("mapper.bert.position_embeddings", p)
        }
        if let t = ws.require(s + "embeddings.token_type_embeddings.weight", shape: [typeShape[0], d]) {
            planner.plain("mapper.bert.token_type_embeddings", t)
        }
        ClipVisionConverter.planNorm(ws, &planner, s + "embeddings.LayerNorm", "mapper.bert.embeddings.norm", d)
        // BertModel(inputs_embeds=...) adds positions 0..<total and token type 0, then LayerNorm.
        let pos = b.slice("positions", "mapper.bert.position_embeddings", axis: 0, start: .int(0), length: .int(Int64(total)))
        let typ = b.slice("token_type0", "mapper.bert.token_type_embeddings", axis: 0, start: .int(0), length: .int(1))
        var h = b.add("add", "with_positions", [joined, pos])
        h = b.add("add", "with_token_type", [h, typ])
        let eps = settings.layerNormEps
        h = b.layerNorm("embeddings_norm", h, gamma: "mapper.bert.embeddings.norm.weight", beta: "mapper.bert.embeddings.norm.bias", eps: eps)
        for l in 0..<layers {
            let src = s + "encoder.layer.\(l).", t = "mapper.bert.layers.\(l).", n = "bert\(l)."
            for part in ["query", "key", "value"] {
                ClipVisionConverter.planLinear(ws, &planner, src + "attention.self.\(part)", t + part, inputs: d, outputs: d)
            }
            ClipVisionConverter.planLinear(ws, &planner, src + "attention.output.dense", t + "attn_out", inputs: d, outputs: d)
            ClipVisionConverter.planNorm(ws, &planner, src + "attention.output.LayerNorm", t + "attn_norm", d)
            ClipVisionConverter.planLinear(ws, &planner, src + "intermediate.dense", t + "fc1", inputs: d, outputs: inter)
            ClipVisionConverter.planLinear(ws, &planner, src + "output.dense", t + "fc2", inputs: inter, outputs: d)
            ClipVisionConverter.planNorm(ws, &planner, src + "output.LayerNorm", t + "out_norm", d)
            // Post-LN: x = LN(x + attn(x)); x = LN(x + ffn(x)).
            let q = b.linear(n + "query", h, w: t + "query.weight", b: t + "query.bias")
            let k = b.linear(n + "key", h, w: t + "key.weight", b: t + "key.bias")
            let v = b.linear(n + "value", h, w: t + "value.weight", b: t + "value.bias")
            let a = b.add("attention", n + "attn", [q, k, v], ["heads": .int(Int64(settings.heads)), "causal": .int(0)])
            let o = b.linear(n + "attn_out", a, w: t + "attn_out.weight", b: t + "attn_out.bias")
            var r = b.add("add", n + "attn_residual", [o, h])
            h = b.layerNorm(n + "attn_norm", r, gamma: t + "attn_norm.weight", beta: t + "attn_norm.bias", eps: eps)
            let f = b.linear(n + "fc1", h, w: t + "fc1.weight", b: t + "fc1.bias", activation: settings.activation)
            let m = b.linear(n + "fc2", f, w: t + "fc2.weight", b: t + "fc2.bias")
            r = b.add("add", n + "ffn_residual", [m, h])
            h = b.layerNorm(n + "out_norm", r, gamma: t + "out_norm.weight", beta: t + "out_norm.bias", eps: eps)
        }
        // last_hidden_state[:, P:] — the outputs at the prefix_const positions.
        b.slice("prefix", h, axis: 1, start: .int(Int64(projected)), length: .int(Int64(constants)), output: "prefix_embeddings")
        // Unused by BertModel(inputs_embeds=...) → last_hidden_state: word embeddings and the pooler.
        ws.skip { $0 == s + "embeddings.word_embeddings.weight" || $0.hasPrefix(s + "pooler.") || KnownBuffers.isBuffer($0) }
        return MapperInfo(mapping: .bert, prefixLength: constants, projectedLength: projected, layers: layers)
    }

    // MARK: Transformer (original ClipCap TransformerMapper)

    /// `transformer(cat(linear(x).view(clip_length, D), prefix_const))[:, clip_length:]`, pre-LN
    /// layers with bias-free queries/keys-values, `heads` heads (8 in ClipCap) and a ReLU MLP.
    private static func transformerMapper(_ ws: WeightSet, _ planner: inout TensorPlanner, _ b: inout GraphBuilder,
                                          x: String, e: Int, d: Int, options: ConvertOptions) throws -> MapperInfo {
        let (joined, projected, constants) = try projectAndConcat(ws, &planner, &b, x: x, e: e, d: d)
        try checkLength(options.prefixLength, constants, what: "--prefix-len", detail: "clip_project.prefix_const has \(constants) rows (prefix_length)")
        try checkLength(options.constantLength, projected, what: "--constant-len", detail: "clip_project.linear projects to \(projected) vectors (clip_length)")
        let heads = options.mapperHeads ?? 8
        guard heads > 0, d % heads == 0 else {
            throw ConvertError.invalidOption("the transformer mapper's \(heads) heads do not divide the width \(d)")
        }
        let s = source + "transformer.layers."
        let layers = ClipVisionConverter.layerCount(ws, prefix: s)
        let hidden = ws.shape(s + "0.mlp.fc1.weight")?.first ?? 2 * d
        let eps = 1e-5 // nn.LayerNorm default
        var h = joined
        for l in 0..<layers {
            let src = s + "\(l).", t = "mapper.transformer.layers.\(l).", n = "layer\(l)."
            ClipVisionConverter.planNorm(ws, &planner, src + "norm1", t + "norm1", d)
            planMaybeBiased(ws, &planner, src + "attn.to_queries", t + "attn.q", inputs: d, outputs: d)
            planMaybeBiased(ws, &planner, src + "attn.to_keys_values", t + "attn.kv", inputs: d, outputs: 2 * d)
            ClipVisionConverter.planLinear(ws, &planner, src + "attn.project", t + "attn.out", inputs: d, outputs: d)
            ClipVisionConverter.planNorm(ws, &planner, src + "norm2", t + "norm2", d)
            ClipVisionConverter.planLinear(ws, &planner, src + "mlp.fc1", t + "mlp.fc1", inputs: d, outputs: hidden)
            ClipVisionConverter.planLinear(ws, &planner, src + "mlp.fc2", t + "mlp.fc2", inputs: hidden, outputs: d)
            let qBias = ws.has(src + "attn.to_queries.bias") ? t + "attn.q.bias" : nil
            let kvBias = ws.has(src + "attn.to_keys_values.bias") ? t + "attn.kv.bias" : nil
            let hn = b.layerNorm(n + "norm1", h, gamma: t + "norm1.weight", beta: t + "norm1.bias", eps: eps)
            let q = b.linear(n + "q", hn, w: t + "attn.q.weight", b: qBias)
            // to_keys_values output reshaped (b, m, 2, heads, dh): keys are columns [0, D), values [D, 2D).
            let kv = b.linear(n + "kv", hn, w: t + "attn.kv.weight", b: kvBias)
            let k = b.slice(n + "k", kv, axis: 2, start: .int(0), length: .int(Int64(d)))
            let v = b.slice(n + "v", kv, axis: 2, start: .int(Int64(d)), length: .int(Int64(d)))
            let a = b.add("attention", n + "attn", [q, k, v], ["heads": .int(Int64(heads)), "causal": .int(0)])
            let o = b.linear(n + "attn_out", a, w: t + "attn.out.weight", b: t + "attn.out.bias")
            h = b.add("add", n + "attn_residual", [h, o])
            let h2 = b.layerNorm(n + "norm2", h, gamma: t + "norm2.weight", beta: t + "norm2.bias", eps: eps)
            let f = b.linear(n + "fc1", h2, w: t + "mlp.fc1.weight", b: t + "mlp.fc1.bias", activation: "relu")
            let m = b.linear(n + "fc2", f, w: t + "mlp.fc2.weight", b: t + "mlp.fc2.bias")
            h = b.add("add", n + "mlp_residual", [h, m])
        }
        b.slice("prefix", h, axis: 1, start: .int(Int64(projected)), length: .int(Int64(constants)), output: "prefix_embeddings")
        return MapperInfo(mapping: .transformer, prefixLength: constants, projectedLength: projected, layers: layers)
    }

    /// A linear whose bias is optional (ClipCap builds queries/keys-values with bias=False).
    private static func planMaybeBiased(_ ws: WeightSet, _ planner: inout TensorPlanner, _ source: String, _ dest: String,
                                        inputs: Int, outputs: Int) {
        if let w = ws.require(source + ".weight", shape: [outputs, inputs]) { planner.linearWeight(dest + ".weight", w) }
        if let bias = ws.optional(source + ".bias", shape: [outputs]) { planner.plain(dest + ".bias", bias) }
    }
}
