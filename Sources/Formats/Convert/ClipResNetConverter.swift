import CCMFormat

/// Turns OpenAI CLIP's `ModifiedResNet` image tower (RN50, RN101, RN50x4, RN50x16, RN50x64)
/// into the `image_encoder` graph: the three-convolution stem and its average pool, the
/// bottleneck stages (stride as an average pool before the third convolution, average pool +
/// 1x1 convolution on the shortcut) and the attention-pooling head. Every size is read from
/// the weights; batch norms are folded into the convolutions (`BatchNormFolding`, docs/CONVERT.md).
enum ClipResNetConverter {
    /// Whether an OpenAI CLIP file holds a ResNet image tower (it shares `visual.conv1.weight` with the ViT).
    static func isResNet(_ ws: WeightSet) -> Bool {
        ws.has("visual.attnpool.positional_embedding") || ws.has("visual.layer1.0.conv1.weight")
    }

    /// The sizes the graph needs, all read from the weights.
    struct Layout {
        /// Stem width (`width` in `ModifiedResNet`): conv3's output channels.
        var width: Int
        /// Bottleneck blocks per stage (layer1 ... layer4).
        var blocks: [Int]
        /// Spatial side of the final feature map (input resolution / 32).
        var grid: Int
        /// Feature width into the attention pool (`width · 32`) and its heads (`width · 32 / 64`).
        var features: Int
        var heads: Int
        var embedDim: Int
        var imageSize: Int { grid * 32 }
    }

    static func convert(_ ws: WeightSet, matrixType: DType?) throws -> (ConvertedPart, VisionHyperparameters) {
        let layout = try readLayout(ws)
        var planner = TensorPlanner(matrixType: matrixType)
        planTensors(ws, &planner, layout)
        ws.skip { !$0.hasPrefix("visual.") || $0.hasSuffix(".num_batches_tracked") }
        let hp = VisionHyperparameters(imageSize: layout.imageSize, patchSize: 32, width: layout.features,
                                       layers: layout.blocks.reduce(0, +), heads: layout.heads, mlpWidth: 0,
                                       embedDim: layout.embedDim, layerNormEps: 0, activation: "relu",
                                       mean: ClipVisionConverter.openAIMean, std: ClipVisionConverter.openAIStd,
                                       family: .resnet(stemWidth: layout.width, blocks: layout.blocks))
        return (ConvertedPart(graph: buildGraph(layout), tensors: planner.tensors), hp)
    }

    // MARK: - Sizes

    static func readLayout(_ ws: WeightSet) throws -> Layout {
        func fail(_ reason: String) -> ConvertError { .unknownArchitecture(role: "clip", path: ws.path, reason: reason) }
        guard let stem = ws.shape("visual.conv3.weight"), stem.count == 4, stem[0] > 1,
              ws.shape("visual.conv1.weight")?.count == 4 else {
            throw fail("a CLIP ResNet needs the stem convolutions visual.conv1/conv2/conv3.weight (conv3 [width, width/2, 3, 3])")
        }
        let width = stem[0]
        var blocks: [Int] = []
        for stage in 1...4 {
            let count = ClipVisionConverter.layerCount(ws, prefix: "visual.layer\(stage).")
            guard count > 0 else { throw fail("visual.layer\(stage) has no bottleneck blocks (expected visual.layer\(stage).0.conv1.weight)") }
            blocks.append(count)
        }
        let features = width * 32
        guard let pos = ws.shape("visual.attnpool.positional_embedding"), pos.count == 2, pos[1] == features,
              let proj = ws.shape("visual.attnpool.c_proj.weight"), proj.count == 2, proj[1] == features else {
            throw fail("visual.attnpool.positional_embedding must be [grid²+1, \(features)] and visual.attnpool.c_proj.weight [embed, \(features)] for a stem of width \(width)")
        }
        var grid = 0
        while (grid + 1) * (grid + 1) <= pos[0] - 1 { grid += 1 }
        guard grid > 0, grid * grid + 1 == pos[0] else {
            throw fail("visual.attnpool.positional_embedding has \(pos[0]) rows; a square grid needs grid²+1")
        }
        // CLIP's own rule: vision_heads = vision_width * 32 // 64.
        let heads = max(1, features / 64)
        guard features % heads == 0 else { throw fail("\(heads) heads do not divide the feature width \(features)") }
        return Layout(width: width, blocks: blocks, grid: grid, features: features, heads: heads, embedDim: proj[0])
    }

    /// Planes (bottleneck width) and stride of stage `stage` (1...4), as `ModifiedResNet._make_layer`.
    static func stage(_ stage: Int, width: Int) -> (planes: Int, stride: Int) {
        (width << (stage - 1), stage == 1 ? 1 : 2)
    }

    // MARK: - Tensors

    private static func planTensors(_ ws: WeightSet, _ planner: inout TensorPlanner, _ l: Layout) {
        let w = l.width
        planConv(ws, &planner, "visual.conv1", "visual.bn1", "clip.stem.1", [w / 2, 3, 3, 3])
        planConv(ws, &planner, "visual.conv2", "visual.bn2", "clip.stem.2", [w / 2, w / 2, 3, 3])
        planConv(ws, &planner, "visual.conv3", "visual.bn3", "clip.stem.3", [w, w / 2, 3, 3])
        var inplanes = w
        for s in 1...4 {
            let (planes, stride) = stage(s, width: w)
            for block in 0..<l.blocks[s - 1] {
                let src = "visual.layer\(s).\(block).", dst = "clip.layer\(s).\(block)."
                planConv(ws, &planner, src + "conv1", src + "bn1", dst + "conv1", [planes, inplanes, 1, 1])
                planConv(ws, &planner, src + "conv2", src + "bn2", dst + "conv2", [planes, planes, 3, 3])
                planConv(ws, &planner, src + "conv3", src + "bn3", dst + "conv3", [planes * 4, planes, 1, 1])
                if hasDownsample(block: block, stride: stride, inplanes: inplanes, planes: planes) {
                    planConv(ws, &planner, src + "downsample.0", src + "downsample.1", dst + "downsample", [planes * 4, inplanes, 1, 1])
                }
                inplanes = planes * 4
            }
        }
        let a = "visual.attnpool."
        if let pos = ws.require(a + "positional_embedding", shape: [l.grid * l.grid + 1, l.features]) {
            planner.plain("clip.attnpool.positional_embedding", pos)
        }
        for part in ["q", "k", "v"] {
            ClipVisionConverter.planLinear(ws, &planner, a + "\(part)_proj", "clip.attnpool.\(part)", inputs: l.features, outputs: l.features)
        }
        ClipVisionConverter.planLinear(ws, &planner, a + "c_proj", "clip.attnpool.out", inputs: l.features, outputs: l.embedDim)
    }

    /// Block 0 of a stage has a shortcut convolution when it strides or changes the width (as CLIP's `Bottleneck`).
    static func hasDownsample(block: Int, stride: Int, inplanes: Int, planes: Int) -> Bool {
        block == 0 && (stride > 1 || inplanes != planes * 4)
    }

    /// A bias-free convolution and the batch norm after it, stored folded as `dest.weight` / `dest.bias`.
    private static func planConv(_ ws: WeightSet, _ planner: inout TensorPlanner, _ conv: String, _ bn: String,
                                 _ dest: String, _ shape: [Int]) {
        let weight = ws.require(conv + ".weight", shape: shape)
        let channels = [shape[0]]
        let gamma = ws.require(bn + ".weight", shape: channels), beta = ws.require(bn + ".bias", shape: channels)
        let mean = ws.require(bn + ".running_mean", shape: channels), variance = ws.require(bn + ".running_var", shape: channels)
        guard let weight, let gamma, let beta, let mean, let variance else { return }
        let folded = BatchNormFolding.fold(conv: weight, norm: .init(gamma: gamma, beta: beta, mean: mean, variance: variance))
        planner.add(dest + ".weight", folded.weight, shape: shape, matrix: true)
        planner.plain(dest + ".bias", folded.bias)
    }

    // MARK: - Graph

    /// pixel_values [1,3,S,S] -> image_embedding [1,E], as OpenAI's `ModifiedResNet.forward`.
    static func buildGraph(_ l: Layout) -> ComputeGraph {
        var b = GraphBuilder()
        var x = conv(&b, "stem.1", "pixel_values", "clip.stem.1", stride: 2, padding: 1, relu: true)
        x = conv(&b, "stem.2", x, "clip.stem.2", stride: 1, padding: 1, relu: true)
        x = conv(&b, "stem.3", x, "clip.stem.3", stride: 1, padding: 1, relu: true)
        x = b.add("avg_pool2d", "stem.pool", [x], ["kernel": .int(2)])
        var inplanes = l.width
        for s in 1...4 {
            let (planes, stride) = stage(s, width: l.width)
            for block in 0..<l.blocks[s - 1] {
                let n = "layer\(s).\(block).", t = "clip.layer\(s).\(block)."
                let blockStride = block == 0 ? stride : 1
                var o = conv(&b, n + "conv1", x, t + "conv1", stride: 1, padding: 0, relu: true)
                o = conv(&b, n + "conv2", o, t + "conv2", stride: 1, padding: 1, relu: true)
                if blockStride > 1 { o = b.add("avg_pool2d", n + "pool", [o], ["kernel": .int(Int64(blockStride))]) }
                o = conv(&b, n + "conv3", o, t + "conv3", stride: 1, padding: 0, relu: false)
                var shortcut = x
                if hasDownsample(block: block, stride: stride, inplanes: inplanes, planes: planes) {
                    if blockStride > 1 {
                        shortcut = b.add("avg_pool2d", n + "downsample.pool", [shortcut], ["kernel": .int(Int64(blockStride))])
                    }
                    shortcut = conv(&b, n + "downsample", shortcut, t + "downsample", stride: 1, padding: 0, relu: false)
                }
                let sum = b.add("add", n + "residual", [o, shortcut])
                x = b.add("relu", n + "relu", [sum])
                inplanes = planes * 4
            }
        }
        // Attention pool: tokens = [mean of the grid, the grid...] + positions; the mean token attends to all.
        let g = l.grid, c = l.features
        let mean = b.add("avg_pool2d", "attnpool.mean", [x], ["kernel": .int(Int64(g))])
        let meanToken = b.reshape("attnpool.mean_token", mean, [1, c, 1])
        let grid = b.reshape("attnpool.grid", x, [1, c, g * g])
        var tokens = b.add("concat", "attnpool.tokens_cf", [meanToken, grid], ["axis": .int(2)])
        tokens = b.add("permute", "attnpool.tokens", [tokens], ["perm": .ints([0, 2, 1])])
        tokens = b.add("add", "attnpool.with_positions", [tokens, "clip.attnpool.positional_embedding"])
        let first = b.slice("attnpool.first", tokens, axis: 1, start: .int(0), length: .int(1))
        let q = b.linear("attnpool.q", first, w: "clip.attnpool.q.weight", b: "clip.attnpool.q.bias")
        let k = b.linear("attnpool.k", tokens, w: "clip.attnpool.k.weight", b: "clip.attnpool.k.bias")
        let v = b.linear("attnpool.v", tokens, w: "clip.attnpool.v.weight", b: "clip.attnpool.v.bias")
        let a = b.add("attention", "attnpool.attn", [q, k, v], ["heads": .int(Int64(l.heads)), "causal": .int(0)])
        let o = b.linear("attnpool.out", a, w: "clip.attnpool.out.weight", b: "clip.attnpool.out.bias")
        b.reshape("embedding", o, [1, l.embedDim], output: "image_embedding")
        let s = l.imageSize
        return ComputeGraph(name: "image_encoder",
                            inputs: [ValueSpec(name: "pixel_values", dtype: .f32, shape: [.fixed(1), .fixed(3), .fixed(s), .fixed(s)])],
                            outputs: ["image_embedding"], nodes: b.nodes)
    }

    private static func conv(_ b: inout GraphBuilder, _ name: String, _ x: String, _ tensor: String,
                             stride: Int, padding: Int, relu: Bool) -> String {
        var attrs: [String: AttrValue] = ["stride": .int(Int64(stride)), "padding": .int(Int64(padding))]
        if relu { attrs["activation"] = .string("relu") }
        return b.add("conv2d", name, [x, tensor + ".weight", tensor + ".bias"], attrs)
    }
}
