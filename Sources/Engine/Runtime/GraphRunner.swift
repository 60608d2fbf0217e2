import CCMFormat
import Foundation

/// Runs one compiled graph for one session: owns the arena, the graph's states (a `KVCache`)
/// and the per-node operand views, all allocated once; a run allocates nothing.
final class GraphRunner: @unchecked Sendable {
    let graph: CompiledGraph
    /// The graph's states (the decoder's KV cache), planned for the worst case's `B` and `max_ctx`.
    let cache: KVCache
    private let arena: UnsafeMutableRawPointer
    private var shapes: [Shape?]
    /// Where each value lives when the session owns it (arena, states): writable.
    private var pointers: [UnsafeMutableRawPointer?]
    /// Where each weight (and each alias of one) lives: the read-only memory map.
    private var weightPointers: [UnsafeRawPointer?]
    private var inputViews: [[TensorView]]
    private var outputViews: [[TensorView]]
    private var operandShapes: [Shape?]
    private let dummy = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)

    init(graph: CompiledGraph) throws {
        self.graph = graph
        cache = try KVCache(graph: graph.name, states: graph.states, slots: graph.plannedSymbols.B,
                            capacity: graph.plannedSymbols.maxCtx)
        arena = UnsafeMutableRawPointer.allocate(byteCount: max(graph.arenaBytes, 64), alignment: 64)
        let count = graph.valueKinds.count
        shapes = [Shape?](repeating: nil, count: count)
        pointers = [UnsafeMutableRawPointer?](repeating: nil, count: count)
        weightPointers = [UnsafeRawPointer?](repeating: nil, count: count)
        let placeholder = TensorView(data: dummy, shape: Shape([]), dtype: .f32)
        inputViews = graph.nodes.map { [TensorView](repeating: placeholder, count: $0.inputs.count) }
        outputViews = graph.nodes.map { _ in [placeholder] }
        operandShapes = [Shape?](repeating: nil, count: max(16, graph.nodes.map(\.inputs.count).max() ?? 0))
        for v in 0..<count {
            switch graph.valueKinds[v] {
            case .intermediate(let offset, _): pointers[v] = arena + offset
            case .state(let i): pointers[v] = cache.pointer(state: i, slot: 0)
            case .constant(let w):
                // Weights never change shape: set once here, not on every run.
                weightPointers[v] = w.view.data
                shapes[v] = w.shape
            case .input, .alias: break
            }
        }
    }

    deinit {
        arena.deallocate()
        dummy.deallocate()
    }

    /// Memory for graph input `index`, sized for `shape`; the caller fills it before `run`.
    func inputBuffer(_ index: Int, shape: Shape) throws -> UnsafeMutableRawPointer {
        let v = graph.inputValue[index]
        guard case .intermediate(_, let capacity) = graph.valueKinds[v] else { fatalError("inputs are planned in the arena") }
        let bytes = shape.elementCount * graph.inputs[index].dtype.size
        guard bytes <= capacity else {
            throw ExecutorError.capacityExceeded(detail: "graph '\(graph.name)': input '\(graph.inputs[index].name)' of shape \(shape) is larger than planned")
        }
        shapes[v] = shape
        return pointers[v]!
    }

    /// The value of graph output `index` after `run` (valid until the next run).
    func output(_ index: Int) -> TensorView {
        let v = graph.outputValue[index]
        return view(v, shape: shapes[v]!)
    }

    /// Value `v` as a kernel sees it: writable when the session owns it, read-only for a weight.
    @inline(__always) private func view(_ v: Int, shape: Shape) -> TensorView {
        if let p = pointers[v] { return TensorView(data: p, shape: shape, dtype: graph.valueTypes[v]) }
        return TensorView(readOnly: weightPointers[v]!, shape: shape, dtype: graph.valueTypes[v])
    }

    /// Runs every node in order. Inputs must have been written with `inputBuffer` first.
    /// `atStage(s)` is called just before node `stageStarts[s]` runs (ascending node indices:
    /// how `WeightStages` maps each stage's weights as it begins). The states are seen from
    /// cache slot `firstSlot` on: batch row `b` reads and writes slot `firstSlot + b`.
    func run(symbols: SymbolBindings, context: ExecutionContext, profiler: Profiler?, firstSlot: Int = 0,
             stageStarts: [Int] = [], atStage: (Int) -> Void = { _ in }) throws {
        var nextStage = 0
        if !graph.states.isEmpty {
            guard firstSlot >= 0, firstSlot + symbols.B <= cache.slots, symbols.maxCtx <= cache.capacity else {
                throw ExecutorError.capacityExceeded(detail: "graph '\(graph.name)': \(symbols.B) rows from slot \(firstSlot) exceed the KV cache's \(cache.slots) slots of \(cache.capacity) positions")
            }
            for (i, v) in graph.stateValue.enumerated() { pointers[v] = cache.pointer(state: i, slot: firstSlot) }
        }
        context.bind("B", symbols.B)
        context.bind("T", symbols.T)
        context.bind("n_past", symbols.nPast)
        context.bind("max_ctx", symbols.maxCtx)
        for (i, spec) in graph.states.enumerated() {
            shapes[graph.stateValue[i]] = try MemoryPlanner.resolve(spec.shape, symbols)
        }
        for n in 0..<graph.nodes.count {
            while nextStage < stageStarts.count && stageStarts[nextStage] <= n {
                atStage(nextStage)
                nextStage += 1
            }
            // A node's time includes the executor's own work for it (shape inference, views),
            // so that the profile's rows account for the whole graph run.
            let start = profiler == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            let node = graph.nodes[n]
            for (j, v) in node.inputs.enumerated() { operandShapes[j] = v >= 0 ? shapes[v] : nil }
            let outShape: Shape
            do {
                outShape = try operandShapes.withUnsafeBufferPointer {
                    try node.rule.outputShape(inputs: UnsafeBufferPointer(rebasing: $0[0..<node.inputs.count]), symbols: symbols)
                }
            } catch {
                throw ExecutorError.shapeMismatch(graph: graph.name, node: node.node.name, detail: "\(error)")
            }
            let out = node.output
            shapes[out] = outShape
            switch graph.valueKinds[out] {
            case .intermediate(_, let capacity):
                guard outShape.elementCount * 4 <= capacity else {
                    throw ExecutorError.capacityExceeded(detail: "graph '\(graph.name)', node '\(node.node.name)': output \(outShape) exceeds the planned size (run larger than the session was created for)")
                }
            case .alias(let src):
                pointers[out] = pointers[src]
                weightPointers[out] = weightPointers[src]
            default: break
            }
            if node.isAlias {
                if let profiler {
                    profiler.record(graph: graph.name, node: n, compiled: node, inputShapes: [], output: outShape,
                                    symbols: symbols, start: start, end: DispatchTime.now().uptimeNanoseconds)
                }
                continue
            }
            for (j, v) in node.inputs.enumerated() {
                if v >= 0 {
                    inputViews[n][j] = view(v, shape: shapes[v]!)
                } else {
                    inputViews[n][j] = TensorView(data: dummy, shape: Shape([]), dtype: .f32)
                }
            }
            outputViews[n][0] = TensorView(data: pointers[out]!, shape: outShape, dtype: .f32)
            do {
                try node.kernel.run(inputs: inputViews[n], outputs: outputViews[n], context: context)
            } catch {
                throw ExecutorError.kernelFailed(graph: graph.name, node: node.node.name, op: node.node.op, detail: "\(error)")
            }
            if let profiler {
                profiler.record(graph: graph.name, node: n, compiled: node, inputShapes: inputViews[n], output: outShape,
                                symbols: symbols, start: start, end: DispatchTime.now().uptimeNanoseconds)
            }
        }
    }
}
