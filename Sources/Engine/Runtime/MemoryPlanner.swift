import CCMFormat

/// Assigns every intermediate value (and every graph input) an offset in one arena, reusing
/// memory between values whose lifetimes do not overlap. Planned once, for the worst-case
/// symbol values, so that no run allocates.
enum MemoryPlanner {
    struct Plan {
        var kinds: [ValueKind]
        var arenaBytes: Int
        /// Worst-case shape of every graph output.
        var outputShapes: [Shape]
    }

    static let alignment = 64

    static func resolve(_ dims: [Dim], _ symbols: SymbolBindings) throws -> Shape {
        guard dims.count <= Shape.maxRank else {
            throw ExecutorError.capacityExceeded(detail: "a shape of rank \(dims.count) is above the engine's limit of \(Shape.maxRank)")
        }
        var s = Shape([])
        for d in dims {
            switch d {
            case .fixed(let n): s.append(n)
            case .symbol(let name):
                guard let v = symbols[name] else { throw ExecutorError.unboundSymbol(name) }
                s.append(v)
            }
        }
        return s
    }

    static func plan(graphName: String, kinds: [ValueKind], types: [DType], nodes: [CompiledNode],
                     inputs: [ValueSpec], inputValue: [Int], states: [ValueSpec], stateValue: [Int],
                     outputValue: [Int], symbols: SymbolBindings) throws -> Plan {
        let count = kinds.count
        var shapes = [Shape?](repeating: nil, count: count)
        for (i, spec) in inputs.enumerated() { shapes[inputValue[i]] = try resolve(spec.shape, symbols) }
        for (i, spec) in states.enumerated() { shapes[stateValue[i]] = try resolve(spec.shape, symbols) }
        for v in 0..<count { if case .constant(let w) = kinds[v] { shapes[v] = w.shape } }

        // Lifetimes: first definition and last use, in node indices.
        let end = nodes.count
        var firstDef = [Int](repeating: 0, count: count)
        var lastUse = [Int](repeating: -1, count: count)
        var operandShapes = [Shape?](repeating: nil, count: 16)
        for (n, node) in nodes.enumerated() {
            if operandShapes.count < node.inputs.count { operandShapes = [Shape?](repeating: nil, count: node.inputs.count) }
            for (j, v) in node.inputs.enumerated() {
                operandShapes[j] = v >= 0 ? shapes[v] : nil
                if v >= 0 { lastUse[v] = max(lastUse[v], n) }
            }
            let out = try operandShapes.withUnsafeBufferPointer { buf in
                do {
                    return try node.rule.outputShape(inputs: UnsafeBufferPointer(rebasing: buf[0..<node.inputs.count]), symbols: symbols)
                } catch {
                    throw ExecutorError.shapeMismatch(graph: graphName, node: node.node.name, detail: "\(error)")
                }
            }
            shapes[node.output] = out
            firstDef[node.output] = n
            lastUse[node.output] = max(lastUse[node.output], n)
        }
        for v in outputValue { lastUse[v] = end }
        for v in inputValue { firstDef[v] = 0; lastUse[v] = max(lastUse[v], 0) }
        // An alias keeps its source alive for as long as the alias is used (chains resolved backwards).
        for v in stride(from: count - 1, through: 0, by: -1) {
            if case .alias(let src) = kinds[v] {
                lastUse[src] = max(lastUse[src], lastUse[v])
            }
        }

        // Place arena values, largest first, at the lowest offset free during their lifetime.
        var placed: [(lo: Int, hi: Int, first: Int, last: Int)] = []
        var result = kinds
        var order: [Int] = []
        for v in 0..<count {
            switch kinds[v] {
            case .intermediate, .input: order.append(v)
            default: break
            }
        }
        // Sizes with overflow checks: a crafted file must get an error, never a wrapped size.
        var sizes = [Int](repeating: 0, count: count)
        for v in order {
            let elements = shapes[v].map { $0.checkedElementCount } ?? 0
            guard let elements, let b = ByteCount.aligned(elements, elementSize: types[v].size, to: alignment) else {
                throw ExecutorError.capacityExceeded(detail: "graph '\(graphName)': a value of shape \(shapes[v].map { "\($0)" } ?? "?") is too large to plan")
            }
            sizes[v] = b
        }
        func bytes(_ v: Int) -> Int { sizes[v] }
        order.sort { bytes($0) > bytes($1) }
        var arena = 0
        for v in order {
            let size = max(bytes(v), alignment)
            let first = firstDef[v], last = max(lastUse[v], firstDef[v])
            var candidate = 0
            let conflicts = placed.filter { !($0.last < first || $0.first > last) }.sorted { $0.lo < $1.lo }
            for c in conflicts {
                if candidate + size <= c.lo { break }
                candidate = max(candidate, c.hi)
            }
            guard candidate <= ByteCount.limit - size else {
                throw ExecutorError.capacityExceeded(detail: "graph '\(graphName)' needs more than \(ByteCount.limit >> 30) GiB of activations")
            }
            placed.append((candidate, candidate + size, first, last))
            result[v] = .intermediate(offset: candidate, capacity: size)
            arena = max(arena, candidate + size)
        }
        return Plan(kinds: result, arenaBytes: arena, outputShapes: outputValue.map { shapes[$0] ?? Shape([]) })
    }
}

/// Byte sizes computed from shapes read from a file: overflow-checked, and capped so that a
/// plan can never ask for more than a machine could hold (`limit`).
enum ByteCount {
    /// 1 TiB: far above any captioning model, far below overflow when a few sizes are added.
    static let limit = 1 << 40

    /// `elements * elementSize` rounded up to `alignment`, or nil past `limit`.
    static func aligned(_ elements: Int, elementSize: Int, to alignment: Int) -> Int? {
        let (n, overflow) = elements.multipliedReportingOverflow(by: elementSize)
        guard !overflow, n >= 0, n <= limit else { return nil }
        return (n + alignment - 1) / alignment * alignment
    }
}
