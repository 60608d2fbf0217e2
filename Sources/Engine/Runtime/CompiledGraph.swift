import CCMFormat

/// Where a graph value lives at run time.
enum ValueKind: Sendable {
    /// A graph input; `index` into `CompiledGraph.inputs`.
    case input(Int)
    /// A persistent state buffer (KV cache); `index` into `CompiledGraph.states`.
    case state(Int)
    /// A tensor of the model file.
    case constant(WeightTensor)
    /// Produced by a node, stored in the session arena at `offset`.
    case intermediate(offset: Int, capacity: Int)
    /// Same memory as another value, another shape (reshape).
    case alias(of: Int)
}

/// One node with its kernel chosen and its operands resolved to value indices.
struct CompiledNode: Sendable {
    let node: GraphNode
    let inputs: [Int]        // value indices, -1 for an absent optional input
    let output: Int          // value index (every operator has one output)
    let rule: ShapeRule
    let kernel: any Kernel
    /// The backend that runs the node ("-" for an alias, which runs nothing).
    let backendName: String
    /// Its position in the chain: 0 is the chosen backend, -1 an alias.
    let chainPosition: Int
    let isAlias: Bool        // reshape: no kernel call, the output aliases the input

    /// Whether a backend after the chosen one runs the node (the chosen one lacks it).
    var isFallback: Bool { chainPosition > 0 }
}

/// A graph prepared for one backend chain: each node's kernel resolved once (the first backend
/// of the chain that supports it), memory planned for the worst case.
/// Shared by every session of a model; holds no per-run state.
final class CompiledGraph: @unchecked Sendable {
    let name: String
    let inputs: [ValueSpec]
    let states: [ValueSpec]
    let outputNames: [String]
    let valueNames: [String]
    let valueKinds: [ValueKind]
    let valueTypes: [DType]
    let inputValue: [Int]    // value index of each graph input
    let stateValue: [Int]    // value index of each state
    let outputValue: [Int]   // value index of each graph output
    let nodes: [CompiledNode]
    /// Bytes of arena a session needs for this graph (intermediates and inputs).
    let arenaBytes: Int
    /// Worst-case shapes, from planning; used to reject runs larger than planned.
    let plannedSymbols: SymbolBindings
    /// Each output's shape under the worst-case symbols (for checking graphs against metadata).
    let plannedOutputShapes: [Shape]
    /// Names of the model-file tensors this graph reads (weights and their int8 scales).
    let weightNames: Set<String>
    /// The same, per node (aligned with `nodes`): what `WeightStages` cuts a phase by.
    let weightNamesByNode: [[String]]
    /// The backends the nodes were resolved on, chosen one first.
    let chain: BackendChain

    init(graph: ComputeGraph, file: ModelFile, weights: WeightCache, chain: BackendChain,
         worstCase: SymbolBindings) throws {
        self.chain = chain
        name = graph.name
        inputs = graph.inputs
        states = graph.states
        outputNames = graph.outputs
        plannedSymbols = worstCase

        var names: [String] = []
        var kinds: [ValueKind] = []
        var types: [DType] = []
        var index: [String: Int] = [:]
        func define(_ n: String, _ k: ValueKind, _ t: DType) -> Int {
            names.append(n); kinds.append(k); types.append(t)
            index[n] = names.count - 1
            return names.count - 1
        }
        var inputValue: [Int] = []
        for (i, spec) in graph.inputs.enumerated() {
            inputValue.append(define(spec.name, .input(i), spec.dtype))
        }
        var stateValue: [Int] = []
        for (i, spec) in graph.states.enumerated() {
            stateValue.append(define(spec.name, .state(i), spec.dtype))
        }

        // Resolve operands and choose kernels.
        var compiled: [CompiledNode] = []
        var byNode: [[String]] = []
        for node in graph.nodes {
            var nodeWeights: [String] = []
            defer { byNode.append(nodeWeights) }
            var operandIndices: [Int] = []
            var operandTypes: [DType?] = []
            var constants: [WeightTensor?] = []
            for name in node.inputs {
                if name.isEmpty {
                    operandIndices.append(-1); operandTypes.append(nil); constants.append(nil)
                    continue
                }
                if let v = index[name] {
                    operandIndices.append(v); operandTypes.append(types[v])
                    if case .constant(let w) = kinds[v] {
                        constants.append(w)
                        nodeWeights.append(w.name)
                        if let scales = w.scales { nodeWeights.append(scales.name) }
                    } else {
                        constants.append(nil)
                    }
                    continue
                }
                guard let w = try weights.weight(named: name) else {
                    throw ExecutorError.unknownValue(graph: graph.name, node: node.name, value: name)
                }
                let v = define(name, .constant(w), w.dtype)
                nodeWeights.append(w.name)
                if let scales = w.scales { nodeWeights.append(scales.name) }
                operandIndices.append(v); operandTypes.append(w.dtype); constants.append(w)
            }
            guard node.outputs.count == 1, let outName = node.outputs.first, !outName.isEmpty else {
                throw ExecutorError.badAttribute(graph: graph.name, node: node.name, detail: "every operator has exactly one output")
            }
            guard index[outName] == nil else {
                throw ExecutorError.badAttribute(graph: graph.name, node: node.name, detail: "output '\(outName)' is defined twice")
            }
            guard operandIndices.first.map({ $0 >= 0 }) == true else {
                throw ExecutorError.badAttribute(graph: graph.name, node: node.name, detail: "the first input may not be absent")
            }
            let rule = try ShapeRule.make(for: node, graph: graph.name) { i in
                guard i < constants.count, let w = constants[i] else { return nil }
                return w.shape.dims
            }
            let isAlias = node.op == "reshape"
            let out = define(outName, isAlias ? .alias(of: operandIndices[0]) : .intermediate(offset: 0, capacity: 0), .f32)

            let request = KernelRequest(node: node, inputTypes: operandTypes, constants: constants)
            let kernel: any Kernel
            let backendName: String
            let position: Int
            if isAlias {
                (kernel, backendName, position) = (AliasKernel(), "-", -1)
            } else {
                let found: (kernel: any Kernel, position: Int)?
                do {
                    found = try chain.makeKernel(for: request)
                } catch {
                    throw ExecutorError.badAttribute(graph: graph.name, node: node.name, detail: "\(error)")
                }
                guard let found else { throw ExecutorError.noKernel(graph: graph.name, node: node.name, op: node.op) }
                (kernel, backendName, position) = (found.kernel, chain.backends[found.position].name, found.position)
            }
            compiled.append(CompiledNode(node: node, inputs: operandIndices, output: out, rule: rule, kernel: kernel,
                                         backendName: backendName, chainPosition: position, isAlias: isAlias))
        }
        var outputValue: [Int] = []
        for o in graph.outputs {
            guard let v = index[o] else { throw ExecutorError.unknownValue(graph: graph.name, node: "(outputs)", value: o) }
            outputValue.append(v)
        }

        self.valueNames = names
        self.valueTypes = types
        self.inputValue = inputValue
        self.stateValue = stateValue
        self.outputValue = outputValue
        self.nodes = compiled
        weightNamesByNode = byNode
        weightNames = Set(byNode.joined())

        // Plan memory for the worst case.
        let plan = try MemoryPlanner.plan(graphName: graph.name, kinds: kinds, types: types, nodes: compiled,
                                          inputs: graph.inputs, inputValue: inputValue, states: graph.states,
                                          stateValue: stateValue, outputValue: outputValue, symbols: worstCase)
        self.valueKinds = plan.kinds
        self.arenaBytes = plan.arenaBytes
        self.plannedOutputShapes = plan.outputShapes
    }

    /// Nodes that run on a backend after the chosen one, for `--verbose` and the profile.
    var fallbacks: [(node: String, op: String, backend: String)] {
        nodes.filter(\.isFallback).map { ($0.node.name, $0.node.op, $0.backendName) }
    }

    /// Whether node `n` runs on the chain's last backend, the reference, although the chosen
    /// backend is another: the slow case `FallbackShare` warns about.
    func runsOnReference(_ n: CompiledNode) -> Bool {
        n.isFallback && n.chainPosition == chain.backends.count - 1 && chain.backends[n.chainPosition].name == BackendChain.reference
    }
}

/// `reshape` moves no data: its output aliases its input.
struct AliasKernel: Kernel {
    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {}
}
