import CCMFormat

/// Why a graph is not runnable, naming the graph and the node.
public struct GraphValidationError: Error, CustomStringConvertible, Sendable, Equatable {
    public var graph: String
    /// The node at fault, or empty for graph-level problems.
    public var node: String
    public var reason: String

    public init(graph: String, node: String, reason: String) {
        self.graph = graph
        self.node = node
        self.reason = reason
    }

    public var description: String {
        node.isEmpty ? "graph '\(graph)': \(reason)" : "graph '\(graph)', node '\(node)': \(reason)"
    }
}

/// Static checks of a `ComputeGraph` against the operator table (`OpTable`, docs/OPS.md):
/// every input is defined before use (graph input, state, earlier node output or model tensor,
/// so a graph has no cycles), operators are known, attributes are present, well typed and in
/// range, operands have the element types their operator reads, every value stays within
/// `GraphLimits` (rank, dimensions, element count: no shape arithmetic can overflow), states
/// have the `[B, max_ctx, D]` shape the KV-cache code relies on, and shapes agree where they
/// can be inferred (symbols such as `B`, `T`, `n_past` are carried along symbolically).
///
/// The converter runs it on what it writes and the engine on every graph of a file it loads:
/// one set of rules on both sides.
public enum GraphValidator {
    /// Validates `graph`; `tensors` gives each model tensor's dtype and shape.
    public static func validate(_ graph: ComputeGraph, tensors: [String: (DType, [Int])]) throws {
        var checker = Checker(graph: graph, tensors: tensors)
        try checker.run()
    }

    /// Validates every graph of `file` against its tensor table.
    public static func validate(_ file: ModelFile) throws {
        var table: [String: (DType, [Int])] = [:]
        for t in file.tensors where table[t.name] == nil { table[t.name] = (t.dtype, t.shape) }
        for graph in file.graphs { try validate(graph, tensors: table) }
    }
}

/// A shape whose dimensions are fixed, symbolic, or unknown (`nil`).
public typealias InferredShape = [Dim?]

private struct Checker {
    let graph: ComputeGraph
    let tensors: [String: (DType, [Int])]
    var values: [String: (dtype: DType, shape: InferredShape)] = [:]
    var states: Set<String> = []

    init(graph: ComputeGraph, tensors: [String: (DType, [Int])]) {
        self.graph = graph
        self.tensors = tensors
    }

    func fail(_ node: String, _ reason: String) -> GraphValidationError {
        GraphValidationError(graph: graph.name, node: node, reason: reason)
    }

    /// A declared or inferred shape must fit the engine: rank, dimension and element bounds.
    func checkBounds(_ shape: InferredShape, _ what: String, node: String) throws {
        guard shape.count <= GraphLimits.maxRank else {
            throw fail(node, "\(what) has rank \(shape.count), above the limit of \(GraphLimits.maxRank)")
        }
        for d in shape {
            switch d {
            case .fixed(let n)?:
                guard n >= 1, n <= GraphLimits.maxDimension else {
                    throw fail(node, "\(what) has dimension \(n), outside 1...\(GraphLimits.maxDimension)")
                }
            case .symbol(let s)?:
                guard GraphLimits.symbols.contains(s) else {
                    throw fail(node, "\(what) uses the unknown symbol '\(s)' (known: \(GraphLimits.symbols.sorted().joined(separator: ", ")))")
                }
            case nil: break
            }
        }
        guard GraphLimits.fixedElements(shape) != nil else {
            throw fail(node, "\(what) has more than \(GraphLimits.maxElements) elements")
        }
    }

    /// Integer attributes stay within ±maxDimension (offsets and sizes are added and
    /// multiplied at run time), floats are finite, symbols are known.
    func checkAttributes(_ node: GraphNode) throws {
        let bound = Int64(GraphLimits.maxDimension)
        for (key, value) in node.attrs.sorted(by: { $0.key < $1.key }) {
            switch value {
            case .int(let v):
                guard v != .min, abs(v) <= bound else { throw fail(node.name, "attribute '\(key)' is \(v), outside ±\(bound)") }
            case .ints(let list):
                guard list.count <= 64 else { throw fail(node.name, "attribute '\(key)' has \(list.count) entries") }
                for v in list where v == .min || abs(v) > bound { throw fail(node.name, "attribute '\(key)' holds \(v), outside ±\(bound)") }
            case .float(let v):
                guard v.isFinite else { throw fail(node.name, "attribute '\(key)' is \(v), not a finite number") }
            case .floats(let list):
                for v in list where !v.isFinite { throw fail(node.name, "attribute '\(key)' holds \(v), not a finite number") }
            case .symbol(let s):
                guard GraphLimits.symbols.contains(s) else { throw fail(node.name, "attribute '\(key)' names the unknown symbol '\(s)'") }
            case .string: break
            }
        }
    }

    mutating func run() throws {
        guard !graph.name.isEmpty else { throw fail("", "the graph has no name") }
        for spec in graph.inputs + graph.states {
            guard !spec.name.isEmpty else { throw fail("", "an input or state has an empty name") }
            guard values[spec.name] == nil, tensors[spec.name] == nil else {
                throw fail("", "'\(spec.name)' is declared twice or shadows a model tensor")
            }
            let shape = spec.shape.map { Optional($0) }
            try checkBounds(shape, "'\(spec.name)'", node: "")
            guard spec.dtype == .f32 || spec.dtype == .i32 else {
                throw fail("", "'\(spec.name)' is \(spec.dtype); graph inputs and states are f32 or i32")
            }
            values[spec.name] = (spec.dtype, shape)
        }
        // The KV-cache code keeps one row per candidate and reorders rows between steps.
        for spec in graph.states {
            guard spec.dtype == .f32, spec.shape.count == 3, spec.shape[0] == .symbol("B"), spec.shape[1] == .symbol("max_ctx") else {
                throw fail("", "state '\(spec.name)' is \(spec.dtype) \(spec.shape); states are f32 [B, max_ctx, D]")
            }
        }
        states = Set(graph.states.map(\.name))
        var nodeNames = Set<String>()
        for node in graph.nodes {
            guard !node.name.isEmpty, nodeNames.insert(node.name).inserted else {
                throw fail(node.name, "node names must be unique and non-empty")
            }
            guard let definition = OpTable.definition(node.op) else {
                throw fail(node.name, "unknown operator '\(node.op)' (see docs/OPS.md)")
            }
            try checkArity(node, definition)
            for key in definition.requiredAttributes where node.attrs[key] == nil {
                throw fail(node.name, "missing attribute '\(key)'")
            }
            try checkAttributes(node)
            var inputs: [(dtype: DType, shape: InferredShape)?] = []
            for (i, name) in node.inputs.enumerated() {
                if name.isEmpty {
                    guard definition.optionalInputs.contains(i) else { throw fail(node.name, "input \(i) is required") }
                    inputs.append(nil)
                    continue
                }
                let value: (dtype: DType, shape: InferredShape)
                if let v = values[name] {
                    value = v
                } else if let tensor = tensors[name] {
                    value = (tensor.0, tensor.1.map { Optional(Dim.fixed($0)) })
                    try checkBounds(value.shape, "tensor '\(name)'", node: node.name)
                } else {
                    throw fail(node.name, "input '\(name)' is not defined before use (not a graph input, state, earlier output or model tensor)")
                }
                let rule = definition.operand(i)
                guard rule.admits(value.dtype) else {
                    throw fail(node.name, "input \(i) ('\(name)') is \(value.dtype); \(node.op) reads \(rule.expected) there")
                }
                inputs.append(value)
            }
            guard node.outputs.count == 1, let out = node.outputs.first, !out.isEmpty else {
                throw fail(node.name, "must have exactly one named output")
            }
            guard values[out] == nil, tensors[out] == nil else {
                throw fail(node.name, "output '\(out)' is already defined")
            }
            let shape: InferredShape
            do {
                shape = try ShapeRules.infer(node, inputs: inputs, isState: { states.contains($0) })
            } catch let reason as ShapeRules.Problem {
                throw fail(node.name, reason.message)
            }
            try checkBounds(shape, "output '\(out)'", node: node.name)
            values[out] = (definition.movesData ? (inputs.first??.dtype ?? .f32) : .f32, shape)
        }
        guard !graph.outputs.isEmpty else { throw fail("", "the graph has no outputs") }
        for out in graph.outputs where values[out] == nil {
            throw fail("", "output '\(out)' is not produced by any node")
        }
    }

    func checkArity(_ node: GraphNode, _ definition: OpDefinition) throws {
        let n = node.inputs.count
        if let max = definition.maxInputs, n > max || n < definition.minInputs {
            throw fail(node.name, "\(node.op) takes \(definition.minInputs)...\(max) inputs, got \(n)")
        }
        if definition.maxInputs == nil, n < definition.minInputs || n > 1024 {
            throw fail(node.name, "\(node.op) takes \(definition.minInputs)...1024 inputs, got \(n)")
        }
    }
}
