import CCMFormat

/// Hyperparameters of a CLIP vision transformer, read from its weights (and config, for HF).
public struct VisionHyperparameters: Sendable, Equatable {
    public var imageSize: Int
    public var patchSize: Int
    public var width: Int
    public var layers: Int
    public var heads: Int
    public var mlpWidth: Int
    public var embedDim: Int
    public var layerNormEps: Double
    public var activation: String
    public var mean: [Double]
    public var std: [Double]
    /// Which image tower: a ViT, or a ResNet (then `width` is the pooled feature width and
    /// `patchSize` the total downsampling, 32).
    public var family: VisionFamily = .vit
}

/// The two CLIP image-tower families.
public enum VisionFamily: Sendable, Equatable {
    case vit
    /// `ModifiedResNet` with its stem width and bottleneck blocks per stage.
    case resnet(stemWidth: Int, blocks: [Int])
}

/// Which naming scheme a CLIP checkpoint uses.
enum ClipFlavour: String {
    /// OpenAI `clip` (`visual.conv1.weight`, ...): TorchScript `ViT-B-32.pt` or a state dict.
    case openai
    /// Hugging Face `CLIPVisionModelWithProjection` (`vision_model.*`, `visual_projection.weight`).
    case huggingface
}

/// Turns a CLIP ViT image tower into the `image_encoder` graph (docs/CONVERT.md).
enum ClipVisionConverter {
    static let openAIMean = [0.48145466, 0.4578275, 0.40821073]
    static let openAIStd = [0.26862954, 0.26130258, 0.27577711]

    static func flavour(of weights: WeightSet) -> ClipFlavour? {
        if weights.has("visual.conv1.weight") { return .openai }
        if weights.has("vision_model.embeddings.patch_embedding.weight") { return .huggingface }
        return nil
    }

    /// Converts the vision tower. `config` is the HF vision config (may be empty for OpenAI files),
    /// `preprocessor` the HF `preprocessor_config.json` if any.
    static func convert(_ weights: WeightSet, config: JSONObject, preprocessor: JSONObject,
                        matrixType: DType?) throws -> (ConvertedPart, VisionHyperparameters) {
        guard let flavour = flavour(of: weights) else {
            throw ConvertError.unknownArchitecture(
                role: "clip", path: weights.path,
                reason: "found neither visual.conv1.weight (OpenAI CLIP) nor vision_model.embeddings.patch_embedding.weight (Hugging Face CLIP); (OpenAI ResNet CLIP files have visual.conv1.weight and visual.attnpool.*)")
        }
        if flavour == .openai && ClipResNetConverter.isResNet(weights) {
            return try ClipResNetConverter.convert(weights, matrixType: matrixType)
        }
        var planner = TensorPlanner(matrixType: matrixType)
        let hp: VisionHyperparameters
        switch flavour {
        case .openai: hp = try planOpenAI(weights, &planner)
        case .huggingface: hp = try planHF(weights, config: config, preprocessor: preprocessor, &planner)
        }
        let graph = buildGraph(hp)
        return (ConvertedPart(graph: graph, tensors: planner.tensors), hp)
    }

    // MARK: - Name mapping

    private static func planOpenAI(_ ws: WeightSet, _ planner: inout TensorPlanner) throws -> VisionHyperparameters {
        guard let conv = ws.shape("visual.conv1.weight"), conv.count == 4, conv[1] == 3, conv[2] == conv[3], conv[2] > 0,
              let pos = ws.shape("visual.positional_embedding"), pos.count == 2,
              let proj = ws.shape("visual.proj"), proj.count == 2 else {
            throw ConvertError.unknownArchitecture(role: "clip", path: ws.path,
                reason: "visual.conv1.weight must be [width, 3, patch, patch], with visual.positional_embedding [grid²+1, width] and visual.proj [width, embed]")
        }
        let width = conv[0], patch = conv[2], embed = proj[1]
        let grid = try gridSide(tokens: pos[0], path: ws.path, name: "visual.positional_embedding")
        let layers = layerCount(ws, prefix: "visual.transformer.resblocks.")
        let mlp = ws.shape("visual.transformer.resblocks.0.mlp.c_fc.weight")?.first ?? 4 * width
        let hp = VisionHyperparameters(imageSize: grid * patch, patchSize: patch, width: width, layers: layers,
                                       heads: max(1, width / 64), mlpWidth: mlp, embedDim: embed,
                                       layerNormEps: 1e-5, activation: "quick_gelu",
                                       mean: openAIMean, std: openAIStd)
        try checkHeads(hp, path: ws.path)
        let w = width
        planEmbeddings(ws, &planner, hp, conv: "visual.conv1.weight", cls: "visual.class_embedding",
                       pos: "visual.positional_embedding")
        planNorm(ws, &planner, "visual.ln_pre", "clip.ln_pre", w)
        for l in 0..<layers {
            let s = "visual.transformer.resblocks.\(l).", d = "clip.layers.\(l)."
            planNorm(ws, &planner, s + "ln_1", d + "ln_1", w)
            // in_proj_weight [3W, W] holds q, k, v rows; each becomes its own [W, W] "io" matrix.
            if let inProj = ws.require(s + "attn.in_proj_weight", shape: [3 * w, w]) {
                for (i, part) in ["q", "k", "v"].enumerated() {
                    planner.add(d + "attn.\(part).weight", inProj, shape: [w, w],
                                transform: .rowsTransposed(i * w..<(i + 1) * w), matrix: true)
                }
            }
            if let inBias = ws.require(s + "attn.in_proj_bias", shape: [3 * w]) {
                for (i, part) in ["q", "k", "v"].enumerated() {
                    planner.add(d + "attn.\(part).bias", inBias, shape: [w], transform: .rows(i * w..<(i + 1) * w))
                }
            }
            planLinear(ws, &planner, s + "attn.out_proj", d + "attn.out", inputs: w, outputs: w)
            planNorm(ws, &planner, s + "ln_2", d + "ln_2", w)
            planLinear(ws, &planner, s + "mlp.c_fc", d + "mlp.fc1", inputs: w, outputs: hp.mlpWidth)
            planLinear(ws, &planner, s + "mlp.c_proj", d + "mlp.fc2", inputs: hp.mlpWidth, outputs: w)
        }
        planNorm(ws, &planner, "visual.ln_post", "clip.ln_post", w)
        if let p = ws.require("visual.proj", shape: [w, embed]) { planner.ioWeight("clip.proj.weight", p) }
        // A full CLIP file also has the text tower and CLIP's bookkeeping: not needed for captions.
        ws.skip { !$0.hasPrefix("visual.") }
        return hp
    }

    private static func planHF(_ ws: WeightSet, config: JSONObject, preprocessor: JSONObject,
                               _ planner: inout TensorPlanner) throws -> VisionHyperparameters {
        let e = "vision_model.embeddings."
        guard let conv = ws.shape(e + "patch_embedding.weight"), conv.count == 4, conv[1] == 3, conv[2] == conv[3], conv[2] > 0,
              let pos = ws.shape(e + "position_embedding.weight"), pos.count == 2,
              let proj = ws.shape("visual_projection.weight"), proj.count == 2 else {
            throw ConvertError.unknownArchitecture(role: "clip", path: ws.path,
                reason: "expected vision_model.embeddings.patch_embedding.weight [width, 3, patch, patch], position_embedding.weight and visual_projection.weight (CLIPVisionModelWithProjection)")
        }
        let width = conv[0], patch = conv[2], embed = proj[0]
        let grid = try gridSide(tokens: pos[0], path: ws.path, name: e + "position_embedding.weight")
        let layers = layerCount(ws, prefix: "vision_model.encoder.layers.")
        let mlp = ws.shape("vision_model.encoder.layers.0.mlp.fc1.weight")?.first ?? 4 * width
        let heads = config.int("num_attention_heads") ?? max(1, width / 64)
        let act = config.string("hidden_act") ?? "quick_gelu"
        guard let activation = Activation.opName(forHF: act) else {
            throw ConvertError.badConfig(path: ws.path, reason: "hidden_act '\(act)' is not supported (quick_gelu, gelu, gelu_new, relu)")
        }
        let hp = VisionHyperparameters(imageSize: grid * patch, patchSize: patch, width: width, layers: layers,
                                       heads: heads, mlpWidth: mlp, embedDim: embed,
                                       layerNormEps: config.double("layer_norm_eps") ?? 1e-5, activation: activation,
                                       mean: preprocessor.doubles("image_mean") ?? openAIMean,
                                       std: preprocessor.doubles("image_std") ?? openAIStd)
        if let size = config.int("image_size"), size != hp.imageSize {
            throw ConvertError.badConfig(path: ws.path, reason: "config image_size \(size) does not match the weights (\(grid)x\(grid) patches of \(patch) = \(hp.imageSize))")
        }
        try checkHeads(hp, path: ws.path)
        let w = width
        planEmbeddings(ws, &planner, hp, conv: e + "patch_embedding.weight", cls: e + "class_embedding",
                       pos: e + "position_embedding.weight")
        planNorm(ws, &planner, "vision_model.pre_layrnorm", "clip.ln_pre", w)
        for l in 0..<layers {
            let s = "vision_model.encoder.layers.\(l).", d = "clip.layers.\(l)."
            planNorm(ws, &planner, s + "layer_norm1", d + "ln_1", w)
            for part in ["q", "k", "v"] {
                planLinear(ws, &planner, s + "self_attn.\(part)_proj", d + "attn.\(part)", inputs: w, outputs: w)
            }
            planLinear(ws, &planner, s + "self_attn.out_proj", d + "attn.out", inputs: w, outputs: w)
            planNorm(ws, &planner, s + "layer_norm2", d + "ln_2", w)
            planLinear(ws, &planner, s + "mlp.fc1", d + "mlp.fc1", inputs: w, outputs: hp.mlpWidth)
            planLinear(ws, &planner, s + "mlp.fc2", d + "mlp.fc2", inputs: hp.mlpWidth, outputs: w)
        }
        planNorm(ws, &planner, "vision_model.post_layernorm", "clip.ln_post", w)
        if let p = ws.require("visual_projection.weight", shape: [embed, w]) { planner.linearWeight("clip.proj.weight", p) }
        ws.skip { KnownBuffers.isBuffer($0) }
        // A full CLIPModel file: skip the text tower.
        ws.skip { $0.hasPrefix("text_model.") || $0 == "text_projection.weight" || $0 == "logit_scale" }
        return hp
    }

    private static func planEmbeddings(_ ws: WeightSet, _ planner: inout TensorPlanner, _ hp: VisionHyperparameters,
                                       conv: String, cls: String, pos: String) {
        let w = hp.width, p = hp.patchSize, g = hp.imageSize / hp.patchSize
        // conv1 [W, 3, P, P] is a linear map of the (c, ph, pw)-flattened patch: view [W, 3PP], transpose.
        if let c = ws.require(conv, shape: [w, 3, p, p]) {
            planner.add("clip.patch_embed.weight", c, shape: [3 * p * p, w], transform: .transpose, matrix: true)
        }
        if let c = ws.require(cls, shape: [w]) { planner.plain("clip.class_embedding", c, shape: [1, 1, w]) }
        if let e = ws.require(pos, shape: [g * g + 1, w]) { planner.plain("clip.positional_embedding", e) }
    }

    static func planNorm(_ ws: WeightSet, _ planner: inout TensorPlanner, _ source: String, _ dest: String, _ width: Int) {
        if let g = ws.require(source + ".weight", shape: [width]) { planner.plain(dest + ".weight", g) }
        if let b = ws.require(source + ".bias", shape: [width]) { planner.plain(dest + ".bias", b) }
    }

    /// An `nn.Linear` (weight [out, in], bias [out]) stored as "io" weight + bias.
    static func planLinear(_ ws: WeightSet, _ planner: inout TensorPlanner, _ source: String, _ dest: String,
                           inputs: Int, outputs: Int, bias: Bool = true) {
        if let w = ws.require(source + ".weight", shape: [outputs, inputs]) { planner.linearWeight(dest + ".weight", w) }
        if bias, let b = ws.require(source + ".bias", shape: [outputs]) { planner.plain(dest + ".bias", b) }
    }

    private static func gridSide(tokens: Int, path: String, name: String) throws -> Int {
        var g = 0
        while (g + 1) * (g + 1) <= tokens - 1 { g += 1 }
        guard g > 0, g * g + 1 == tokens else {
            throw ConvertError.unknownArchitecture(role: "clip", path: path,
                reason: "\(name) has \(tokens) rows; a square patch grid needs grid²+1")
        }
        return g
    }

    private static func checkHeads(_ hp: VisionHyperparameters, path: String) throws {
        guard hp.layers > 0, hp.heads > 0, hp.width % hp.heads == 0 else {
            throw ConvertError.unknownArchitecture(role: "clip", path: path,
                reason: "\(hp.layers) layers of width \(hp.width) with \(hp.heads) heads is not a valid ViT")
        }
    }

    /// Number of consecutive layer indices `prefix` 0, 1, 2, ... present in the file.
    static func layerCount(_ ws: WeightSet, prefix: String) -> Int {
        var indices = Set<Int>()
        for name in ws.names(withPrefix: prefix) {
            let rest = name.dropFirst(prefix.count)
            if let dot = rest.firstIndex(of: "."), let n = Int(rest[..<dot]) { indices.insert(n) }
        }
        var count = 0
        while indices.contains(count) { count += 1 }
        return count
    }

    // MARK: - Graph

    /// pixel_values [B,3,S,S] -> image_embedding [B,E], as OpenAI's `VisionTransformer.forward`
    /// (a batch of images per run: every product reads the weights once for all of them).
    static func buildGraph(_ hp: VisionHyperparameters) -> ComputeGraph {
        let s = hp.imageSize, p = hp.patchSize, g = s / p, eps = hp.layerNormEps
        var b = GraphBuilder()
        // Shape 0 keeps the input's dimension: the batch.
        var x = b.reshape("patches.split", "pixel_values", [0, 3, g, p, g, p])
        x = b.add("permute", "patches.order", [x], ["perm": .ints([0, 2, 4, 1, 3, 5])])
        x = b.reshape("patches.flat", x, [0, g * g, 3 * p * p])
        x = b.linear("patch_embed", x, w: "clip.patch_embed.weight", b: nil)
        let cls = b.add("expand", "class_per_image", ["clip.class_embedding", x])
        x = b.add("concat", "with_class", [cls, x], ["axis": .int(1)])
        x = b.add("add", "with_positions", [x, "clip.positional_embedding"])
        x = b.layerNorm("ln_pre", x, gamma: "clip.ln_pre.weight", beta: "clip.ln_pre.bias", eps: eps)
        for l in 0..<hp.layers {
            let t = "clip.layers.\(l).", n = "layer\(l)."
            let h = b.layerNorm(n + "ln_1", x, gamma: t + "ln_1.weight", beta: t + "ln_1.bias", eps: eps)
            let q = b.linear(n + "q", h, w: t + "attn.q.weight", b: t + "attn.q.bias")
            let k = b.linear(n + "k", h, w: t + "attn.k.weight", b: t + "attn.k.bias")
            let v = b.linear(n + "v", h, w: t + "attn.v.weight", b: t + "attn.v.bias")
            let a = b.add("attention", n + "attn", [q, k, v], ["heads": .int(Int64(hp.heads)), "causal": .int(0)])
            let o = b.linear(n + "attn_out", a, w: t + "attn.out.weight", b: t + "attn.out.bias")
            x = b.add("add", n + "attn_residual", [x, o])
            let h2 = b.layerNorm(n + "ln_2", x, gamma: t + "ln_2.weight", beta: t + "ln_2.bias", eps: eps)
            let f = b.linear(n + "fc1", h2, w: t + "mlp.fc1.weight", b: t + "mlp.fc1.bias", activation: hp.activation)
            let m = b.linear(n + "fc2", f, w: t + "mlp.fc2.weight", b: t + "mlp.fc2.bias")
            x = b.add("add", n + "mlp_residual", [x, m])
        }
        x = b.slice("class_token", x, axis: 1, start: .int(0), length: .int(1))
        x = b.layerNorm("ln_post", x, gamma: "clip.ln_post.weight", beta: "clip.ln_post.bias", eps: eps)
        x = b.linear("project", x, w: "clip.proj.weight", b: nil)
        b.reshape("embedding", x, [0, hp.embedDim], output: "image_embedding")
        return ComputeGraph(name: "image_encoder",
                            inputs: [ValueSpec(name: "pixel_values", dtype: .f32, shape: [.symbol("B"), .fixed(3), .fixed(s), .fixed(s)])],
                            outputs: ["image_embedding"], nodes: b.nodes)
    }
}
