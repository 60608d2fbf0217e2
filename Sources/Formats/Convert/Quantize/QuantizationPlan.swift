import CCMFormat

/// Which nodes of a model become int8 and which tensors the output holds: decided from the
/// graphs and the tensor table alone, before any weight is read.
struct QuantizationPlan {
    /// One int8 tensor to write: a float source weight in a given orientation.
    struct Target: Equatable {
        /// Name of the float tensor in the input file.
        var source: String
        /// `true` when the source is `[K, N]` (`w_layout: "io"`) and must be transposed to `[N, K]`.
        var transpose: Bool
        /// Names of the int8 tensor and its scales in the output.
        var name: String
        var scalesName: String
        /// `[N, K]`.
        var rows: Int
        var cols: Int
    }

    var graphs: [ComputeGraph]
    var targets: [Target]
    var quantizedNodes: [String] = []
    var keptNodes: [String] = []
    var quantizedEmbeddings: [String] = []
    /// Input tensors copied unchanged, in file order.
    var copied: [TensorEntry] = []
    var dropped: [String] = []

    static let floatTypes: Set<DType> = [.f32, .f16, .bf16]

    init(file: ModelFile, options: QuantizeOptions) throws {
        let keep = options.keepPatterns.map(GlobPattern.init)
        func kept(_ names: String...) -> Bool { names.contains { n in keep.contains { $0.matches(n) } } }
        var targets: [Target] = []
        var byKey: [String: Int] = [:]
        var usedNames = Set(file.tensors.map(\.name))
        /// `flatten`: a convolution weight [O, C, kh, kw], quantized as the matrix [O, C·kh·kw].
        func target(for entry: TensorEntry, transpose: Bool, flatten: Bool = false) throws -> String {
            let key = entry.name + (transpose ? "|io" : "|oi")
            if let i = byKey[key] { return targets[i].name }
            let matrix = flatten && entry.shape.count == 4 ? [entry.shape[0], entry.shape.dropFirst().reduce(1, *)] : entry.shape
            guard matrix.count == 2 else {
                throw QuantizeError.badWeight(path: file.path, tensor: entry.name, reason: "it has shape \(entry.shape), expected 2-D")
            }
            var name = entry.name + ".i8"
            if usedNames.contains(name) || usedNames.contains(name + ".scales") { name = entry.name + (transpose ? ".i8.io" : ".i8.oi") }
            var suffix = 2
            while usedNames.contains(name) || usedNames.contains(name + ".scales") { name = entry.name + ".i8.\(suffix)"; suffix += 1 }
            usedNames.insert(name)
            usedNames.insert(name + ".scales")
            let rows = transpose ? matrix[1] : matrix[0]
            let cols = transpose ? matrix[0] : matrix[1]
            targets.append(Target(source: entry.name, transpose: transpose, name: name, scalesName: name + ".scales", rows: rows, cols: cols))
            byKey[key] = targets.count - 1
            return name
        }

        var graphs = file.graphs
        let scheme = options.scheme
        /// `node` with its float weight replaced by the int8 tensor `weight` and its scales,
        /// (x, w.i8, w.i8.scales[, bias]), and the scheme's attributes added to `attrs`.
        func quantized(_ node: GraphNode, as op: String, weight: String, attrs: [String: AttrValue]) -> GraphNode {
            var attrs = attrs
            attrs["scheme"] = .string(scheme.attributeName)
            if scheme.blockSize > 0 { attrs["block"] = .int(Int64(scheme.blockSize)) }
            let bias = node.inputs.count > 2 ? node.inputs[2] : ""
            var inputs = [node.inputs[0], weight, weight + ".scales"]
            if !bias.isEmpty { inputs.append(bias) }
            return GraphNode(name: node.name, op: op, inputs: inputs, outputs: node.outputs, attrs: attrs)
        }
        for g in graphs.indices {
            for i in graphs[g].nodes.indices {
                let node = graphs[g].nodes[i]
                switch node.op {
                case "linear":
                    guard node.inputs.count >= 2, let w = file.tensor(named: node.inputs[1]), Self.floatTypes.contains(w.dtype) else { continue }
                    if kept(node.name, w.name) { keptNodes.append(node.name); continue }
                    let layout: String
                    switch node.attrs["w_layout"] {
                    case nil: layout = "io"
                    case .string(let s)?: layout = s
                    default: layout = "?"
                    }
                    guard layout == "io" || layout == "oi" else { keptNodes.append(node.name); continue }
                    var attrs = node.attrs
                    attrs["w_layout"] = nil
                    graphs[g].nodes[i] = quantized(node, as: "linear_i8", weight: try target(for: w, transpose: layout == "io"), attrs: attrs)
                    quantizedNodes.append(node.name)
                case "conv2d":
                    // CLIP ResNet convolutions: [O, C, kh, kw] -> int8 [O, C·kh·kw] with per-output-channel
                    // (or block) scales; `kernel` keeps the 4-D view for shape inference.
                    guard node.inputs.count >= 2, let w = file.tensor(named: node.inputs[1]), Self.floatTypes.contains(w.dtype),
                          w.shape.count == 4 else { continue }
                    if kept(node.name, w.name) { keptNodes.append(node.name); continue }
                    var attrs = node.attrs
                    attrs["kernel"] = .ints([Int64(w.shape[2]), Int64(w.shape[3])])
                    graphs[g].nodes[i] = quantized(node, as: "conv2d_i8", weight: try target(for: w, transpose: false, flatten: true), attrs: attrs)
                    quantizedNodes.append(node.name)
                case "gather" where options.quantizeEmbeddings:
                    guard let table = node.inputs.first.flatMap({ file.tensor(named: $0) }), Self.floatTypes.contains(table.dtype),
                          !kept(node.name, table.name) else { continue }
                    // The table [V, D] is stored like an `oi` weight, so a tied LM head shares it.
                    let name = try target(for: table, transpose: false)
                    var inputs = node.inputs
                    inputs[0] = name
                    graphs[g].nodes[i].inputs = inputs
                    quantizedEmbeddings.append(node.name)
                default:
                    continue
                }
            }
        }
        self.graphs = graphs
        self.targets = targets

        // Tensors used before the rewrite but by no node after it are dropped; tensors no graph
        // ever named (if any) are kept, as are the scales of int8 tensors already in the file.
        let before = Set(file.graphs.flatMap { $0.nodes.flatMap(\.inputs) })
        let after = Set(graphs.flatMap { $0.nodes.flatMap(\.inputs) })
        let scalesInUse = Set(file.tensors.compactMap { after.contains($0.name) ? $0.quantization?.scalesTensor : nil })
        for entry in file.tensors {
            if after.contains(entry.name) || scalesInUse.contains(entry.name) || !before.contains(entry.name) {
                copied.append(entry)
            } else {
                dropped.append(entry.name)
            }
        }
    }
}
