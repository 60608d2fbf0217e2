import CCMFormat

/// Appends nodes to a graph under construction. Every node has one output whose value name
/// equals the node name unless an explicit output name (a graph output) is given.
struct GraphBuilder {
    private(set) var nodes: [GraphNode] = []

    /// Adds a node and returns the name of its output value.
    @discardableResult
    mutating func add(_ op: String, _ name: String, _ inputs: [String],
                      _ attrs: [String: AttrValue] = [:], output: String? = nil) -> String {
        let out = output ?? name
        nodes.append(GraphNode(name: name, op: op, inputs: inputs, outputs: [out], attrs: attrs))
        return out
    }

    /// `linear` with weight `w` in layout "io" ([in, out]) unless told otherwise.
    @discardableResult
    mutating func linear(_ name: String, _ x: String, w: String, b: String?, activation: String = "none",
                         layout: String = "io", output: String? = nil) -> String {
        var attrs: [String: AttrValue] = ["w_layout": .string(layout)]
        if activation != "none" { attrs["activation"] = .string(activation) }
        return add("linear", name, [x, w, b ?? ""], attrs, output: output)
    }

    @discardableResult
    mutating func layerNorm(_ name: String, _ x: String, gamma: String, beta: String, eps: Double,
                            output: String? = nil) -> String {
        add("layer_norm", name, [x, gamma, beta], ["eps": .float(eps)], output: output)
    }

    @discardableResult
    mutating func slice(_ name: String, _ x: String, axis: Int, start: AttrValue, length: AttrValue? = nil,
                        end: AttrValue? = nil, output: String? = nil) -> String {
        var attrs: [String: AttrValue] = ["axis": .int(Int64(axis)), "start": start]
        if let length { attrs["length"] = length }
        if let end { attrs["end"] = end }
        return add("slice", name, [x], attrs, output: output)
    }

    @discardableResult
    mutating func reshape(_ name: String, _ x: String, _ shape: [Int], output: String? = nil) -> String {
        add("reshape", name, [x], ["shape": .ints(shape.map { Int64($0) })], output: output)
    }
}

/// Collects the output tensors of one part of the model, choosing each one's stored dtype:
/// matrices that feed `linear` and `gather` take the requested dtype (`--dtype`; `nil`: `f16`
/// where the source is `f16`, else `f32`), everything else (biases, norms, embeddings added to
/// activations) stays `f32`.
struct TensorPlanner {
    let matrixType: DType?
    private(set) var tensors: [PlannedTensor] = []

    init(matrixType: DType?) { self.matrixType = matrixType }

    /// Adds a tensor read with `transform`, stored with `shape`; returns its name for graph inputs.
    @discardableResult
    mutating func add(_ name: String, _ source: InputTensor, shape: [Int], transform: WeightTransform = .identity,
                      matrix: Bool = false) -> String {
        tensors.append(PlannedTensor(name: name, dtype: matrix ? storedMatrixType(source) : .f32, shape: shape,
                                     source: source, transform: transform))
        return name
    }

    /// The requested matrix type, or without one the source's precision (f16 stays f16).
    private func storedMatrixType(_ source: InputTensor) -> DType {
        matrixType ?? (source.dtype == .f16 ? .f16 : .f32)
    }

    /// An `nn.Linear` weight [out, in] stored transposed as [in, out] for `w_layout` "io".
    @discardableResult
    mutating func linearWeight(_ name: String, _ source: InputTensor) -> String {
        let out = source.shape[0], inp = source.shape.count > 1 ? source.shape[1] : 1
        return add(name, source, shape: [inp, out], transform: .transpose, matrix: true)
    }

    /// A weight already stored [in, out] (GPT-2 Conv1D, CLIP `proj`).
    @discardableResult
    mutating func ioWeight(_ name: String, _ source: InputTensor) -> String {
        add(name, source, shape: source.shape, matrix: true)
    }

    /// A 1-D or other tensor kept as it is, in f32.
    @discardableResult
    mutating func plain(_ name: String, _ source: InputTensor, shape: [Int]? = nil) -> String {
        add(name, source, shape: shape ?? source.shape)
    }
}

/// One converted part of the model: its graph and the tensors the graph reads.
struct ConvertedPart {
    var graph: ComputeGraph
    var tensors: [PlannedTensor]
}
