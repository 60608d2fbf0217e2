import CCMFormat

/// Why a graph is not runnable, naming the graph and the node.
public struct GraphValidationError: Error, CustomStringConvertible, Sendable, Equatable {
    public var graph: String
    /// The node at fault, or empty for graph-level problems.
    public var node: String
    public var reason: String

    public var description: String {
        node.isEmpty ? "graph '\(graph)': \(reason)" : "graph '\(graph)', node '\(node)': \(reason)"
    }
}

/// Static checks of a `ComputeGraph` against docs/OPS.md: every input is defined before use
/// (graph input, state, earlier node output or model tensor), operators are known, required
/// attributes are present and well typed, outputs exist, and shapes agree where they can be
/// inferred (symbols such as `B`, `T`, `n_past` are carried along symbolically).
public enum GraphValidator {
    /// Validates `graph`; `tensors` gives each model tensor's dtype and shape.
    public static func validate(_ graph: ComputeGraph, tensors: [String: (DType, [Int])]) throws {
        var checker = Checker(graph: graph, tensors: tensors)
        try checker.run()
    }
}

/// A shape whose dimensions are fixed, symbolic, or unknown (`nil`).
typealias InferredShape = [Dim?]

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

    mutating func run() throws {
        guard !graph.name.isEmpty else { throw fail("", "the graph has no name") }
        for spec in graph.inputs + graph.states {
            guard !spec.name.isEmpty else { throw fail("", "an input or state has an empty name") }
            guard values[spec.name] == nil, tensors[spec.name] == nil else {
                throw fail("", "'\(spec.name)' is declared twice or shadows a model tensor")
            }
            values[spec.name] = (spec.dtype, spec.shape.map { Optional($0) })
        }
        states = Set(graph.states.map(\.name))
        var nodeNames = Set<String>()
        for node in graph.nodes {
            guard !node.name.isEmpty, nodeNames.insert(node.name).inserted else {
                throw fail(node.name, "node names must be unique and non-empty")
            }
            guard let signature = OpSignature.all[node.op] else {
                throw fail(node.name, "unknown operator '\(node.op)' (see docs/OPS.md)")
            }
            try checkArity(node, signature)
            for key in signature.requiredAttrs where node.attrs[key] == nil {
                throw fail(node.name, "missing attribute '\(key)'")
            }
            var inputs: [(dtype: DType, shape: InferredShape)?] = []
            for (i, name) in node.inputs.enumerated() {
                if name.isEmpty {
                    guard signature.optionalInputs.contains(i) else { throw fail(node.name, "input \(i) is required") }
                    inputs.append(nil)
                    continue
                }
                if let value = values[name] {
                    inputs.append(value)
                } else if let tensor = tensors[name] {
                    inputs.append((tensor.0, tensor.1.map { Optional(Dim.fixed($0)) }))
                } else {
                    throw fail(node.name, "input '\(name)' is not defined before use (not a graph input, state, earlier output or model tensor)")
                }
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
            // Data movement keeps the element type; every computing op produces f32 activations.
            let moves: Set<String> = ["reshape", "permute", "slice", "concat", "expand"]
            values[out] = (moves.contains(node.op) ? (inputs.first??.dtype ?? .f32) : .f32, shape)
        }
        guard !graph.outputs.isEmpty else { throw fail("", "the graph has no outputs") }
        for out in graph.outputs where values[out] == nil {
            throw fail("", "output '\(out)' is not produced by any node")
        }
    }

    func checkArity(_ node: GraphNode, _ signature: OpSignature) throws {
        let n = node.inputs.count
        if let max = signature.maxInputs, n > max || n < signature.minInputs {
            throw fail(node.name, "\(node.op) takes \(signature.minInputs)...\(max) inputs, got \(n)")
        }
        if signature.maxInputs == nil, n < signature.minInputs {
            throw fail(node.name, "\(node.op) takes at least \(signature.minInputs) inputs, got \(n)")
        }
    }
}

/// Input counts and required attributes of each operator in docs/OPS.md.
struct OpSignature {
    var minInputs: Int
    /// `nil` for variadic operators (`concat`).
    var maxInputs: Int?
    var optionalInputs: Set<Int> = []
    var requiredAttrs: [String] = []

    static let all: [String: OpSignature] = {
        var table: [String: OpSignature] = [
            "gather": OpSignature(minInputs: 2, maxInputs: 2),
            "linear": OpSignature(minInputs: 2, maxInputs: 3, optionalInputs: [2]),
            "linear_i8": OpSignature(minInputs: 3, maxInputs: 4, optionalInputs: [3], requiredAttrs: ["scheme"]),
            "matmul": OpSignature(minInputs: 2, maxInputs: 2),
            "add": OpSignature(minInputs: 2, maxInputs: 2),
            "mul": OpSignature(minInputs: 2, maxInputs: 2),
            "scale": OpSignature(minInputs: 1, maxInputs: 1, requiredAttrs: ["value"]),
            "layer_norm": OpSignature(minInputs: 3, maxInputs: 3, requiredAttrs: ["eps"]),
            "reshape": OpSignature(minInputs: 1, maxInputs: 1, requiredAttrs: ["shape"]),
            "permute": OpSignature(minInputs: 1, maxInputs: 1, requiredAttrs: ["perm"]),
            "slice": OpSignature(minInputs: 1, maxInputs: 1, requiredAttrs: ["axis", "start"]),
            "concat": OpSignature(minInputs: 1, maxInputs: nil, requiredAttrs: ["axis"]),
            "expand": OpSignature(minInputs: 2, maxInputs: 2),
            "attention": OpSignature(minInputs: 3, maxInputs: 3, requiredAttrs: ["heads"]),
            "attention_cached": OpSignature(minInputs: 5, maxInputs: 6, optionalInputs: [5], requiredAttrs: ["heads"]),
        ]
        for unary in ["gelu_erf", "gelu_tanh", "quick_gelu", "tanh", "relu", "l2_normalize", "softmax"] {
            table[unary] = OpSignature(minInputs: 1, maxInputs: 1)
        }
        return table
    }()
}
