import Foundation

/// Aggregated profile of one or more runs: time by op type, the slowest nodes, phases, and
/// the reconciliation of node time against the measured wall time.
public struct ProfileReport: Sendable {
    /// One row of the by-op table.
    public struct OpRow: Sendable {
        public var op: String
        public var backends: String
        public var calls: Int
        public var totalMs: Double
        public var percentOfRun: Double
        public var meanMicros: Double
        public var gflops: Double
        public var gbPerSecond: Double
        public var fallbackCalls: Int
    }

    /// One node, summed over its calls.
    public struct NodeRow: Sendable {
        public var graph: String
        public var node: String
        public var op: String
        public var backend: String
        public var calls: Int
        public var totalMs: Double
        public var percentOfRun: Double
    }

    /// A phase, summed over runs (decode steps grouped as `decode`).
    public struct PhaseRow: Sendable {
        public var phase: String
        public var totalMs: Double
        public var nodeMs: Double
        public var percentOfRun: Double
    }

    public var runs: Int
    /// Measured wall time of all runs together.
    public var wallMs: Double
    /// Sum of every node's time.
    public var nodeMs: Double
    /// Wall time spent outside any node (image decode, preprocessing, sampling, copies).
    public var outsideMs: Double { wallMs - nodeMs }
    public var byOp: [OpRow]
    public var topNodes: [NodeRow]
    public var phases: [PhaseRow]
    /// Time by phase group and op type, for the chart.
    public var phaseOpMs: [(phase: String, op: String, ms: Double)]

    /// Builds the report from a profiler's records and the measured wall time of the runs.
    public init(profiler: Profiler, wallMs: Double, runs: Int, topCount: Int = 15) {
        self.runs = runs
        self.wallMs = wallMs
        let nodes = profiler.nodes
        nodeMs = nodes.reduce(0.0) { $0 + Double($1.durationNanos) / 1e6 }
        let wall = max(wallMs, 1e-9)

        var ops: [String: OpRow] = [:]
        var opOrder: [String] = []
        var flops: [String: Double] = [:]
        var bytes: [String: Double] = [:]
        var backendSets: [String: Set<String>] = [:]
        for e in nodes {
            let ms = Double(e.durationNanos) / 1e6
            if ops[e.op] == nil {
                opOrder.append(e.op)
                ops[e.op] = OpRow(op: e.op, backends: "", calls: 0, totalMs: 0, percentOfRun: 0, meanMicros: 0, gflops: 0, gbPerSecond: 0, fallbackCalls: 0)
            }
            ops[e.op]!.calls += 1
            ops[e.op]!.totalMs += ms
            if e.isFallback { ops[e.op]!.fallbackCalls += 1 }
            flops[e.op, default: 0] += e.flops
            bytes[e.op, default: 0] += e.bytes
            backendSets[e.op, default: []].insert(e.isFallback ? e.backend + " (fallback)" : e.backend)
        }
        byOp = opOrder.map { op in
            var row = ops[op]!
            row.percentOfRun = 100 * row.totalMs / wall
            row.meanMicros = 1000 * row.totalMs / Double(max(row.calls, 1))
            let seconds = row.totalMs / 1000
            row.gflops = seconds > 0 ? flops[op, default: 0] / seconds / 1e9 : 0
            row.gbPerSecond = seconds > 0 ? bytes[op, default: 0] / seconds / 1e9 : 0
            row.backends = backendSets[op, default: []].sorted().joined(separator: ",")
            return row
        }.sorted { $0.totalMs > $1.totalMs }

        var perNode: [String: NodeRow] = [:]
        for e in nodes {
            let key = e.graph + "/" + e.nodeName
            if perNode[key] == nil {
                perNode[key] = NodeRow(graph: e.graph, node: e.nodeName, op: e.op,
                                       backend: e.isFallback ? e.backend + " (fallback)" : e.backend,
                                       calls: 0, totalMs: 0, percentOfRun: 0)
            }
            perNode[key]!.calls += 1
            perNode[key]!.totalMs += Double(e.durationNanos) / 1e6
        }
        topNodes = perNode.values.map { var r = $0; r.percentOfRun = 100 * r.totalMs / wall; return r }
            .sorted { $0.totalMs > $1.totalMs }.prefix(topCount).map { $0 }

        func group(_ phase: String) -> String { phase.hasPrefix("decode_step_") ? "decode" : phase }
        var phaseTotals: [String: Double] = [:]
        var phaseOrder: [String] = []
        for p in profiler.phases {
            let g = group(p.name)
            if phaseTotals[g] == nil { phaseOrder.append(g) }
            phaseTotals[g, default: 0] += Double(p.endNanos - p.startNanos) / 1e6
        }
        var phaseNodes: [String: Double] = [:]
        var cells: [String: Double] = [:]
        var cellOrder: [String] = []
        for e in nodes {
            let g = group(e.phase)
            let ms = Double(e.durationNanos) / 1e6
            phaseNodes[g, default: 0] += ms
            let key = g + "|" + e.op
            if cells[key] == nil { cellOrder.append(key) }
            cells[key, default: 0] += ms
        }
        phases = phaseOrder.map { PhaseRow(phase: $0, totalMs: phaseTotals[$0]!, nodeMs: phaseNodes[$0, default: 0], percentOfRun: 100 * phaseTotals[$0]! / wall) }
        phaseOpMs = cellOrder.map { key in
            let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
            return (parts[0], parts[1], cells[key]!)
        }
    }

    /// The report as text tables.
    public func text() -> String {
        var out = ""
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        func f(_ v: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", v) }
        out += "runs: \(runs)   wall: \(f(wallMs)) ms (\(f(wallMs / Double(max(runs, 1)))) ms per run)\n"
        out += "inside nodes: \(f(nodeMs)) ms (\(f(100 * nodeMs / max(wallMs, 1e-9), 1))%)   outside any node: \(f(outsideMs)) ms (\(f(100 * outsideMs / max(wallMs, 1e-9), 1))%)\n\n"
        out += pad("op", 18) + lpad("calls", 8) + lpad("total ms", 11) + lpad("% run", 8) + lpad("mean us", 10) + lpad("GFLOP/s", 9) + lpad("GB/s", 8) + "  backend\n"
        for r in byOp {
            out += pad(r.op, 18) + lpad(String(r.calls), 8) + lpad(f(r.totalMs), 11) + lpad(f(r.percentOfRun, 1), 8)
                + lpad(f(r.meanMicros, 1), 10) + lpad(f(r.gflops, 1), 9) + lpad(f(r.gbPerSecond, 1), 8) + "  " + r.backends + "\n"
        }
        out += pad("(sum of rows)", 18) + lpad(String(byOp.reduce(0) { $0 + $1.calls }), 8) + lpad(f(nodeMs), 11)
            + lpad(f(100 * nodeMs / max(wallMs, 1e-9), 1), 8) + "\n"
        out += pad("(outside nodes)", 18) + lpad("", 8) + lpad(f(outsideMs), 11) + lpad(f(100 * outsideMs / max(wallMs, 1e-9), 1), 8) + "\n\n"
        out += "phases:\n"
        for p in phases {
            out += "  " + pad(p.phase, 16) + lpad(f(p.totalMs), 10) + " ms" + lpad(f(p.percentOfRun, 1), 7) + "%   (in nodes: \(f(p.nodeMs)) ms)\n"
        }
        out += "\ntop nodes:\n"
        out += "  " + pad("graph/node", 40) + pad("op", 18) + lpad("calls", 6) + lpad("total", 10) + "   " + lpad("% run", 7) + "  backend\n"
        for n in topNodes {
            out += "  " + pad(n.graph + "/" + n.node, 40) + pad(n.op, 18) + lpad(String(n.calls), 6) + lpad(f(n.totalMs), 10) + " ms" + lpad(f(n.percentOfRun, 1), 7) + "%  " + n.backend + "\n"
        }
        return out
    }

    /// The report as a JSON-serialisable dictionary.
    public func jsonObject() -> [String: Any] {
        [
            "runs": runs, "wall_ms": wallMs, "node_ms": nodeMs, "outside_ms": outsideMs,
            "by_op": byOp.map { ["op": $0.op, "backend": $0.backends, "calls": $0.calls, "total_ms": $0.totalMs,
                                 "percent": $0.percentOfRun, "mean_us": $0.meanMicros, "gflops": $0.gflops,
                                 "gb_per_s": $0.gbPerSecond, "fallback_calls": $0.fallbackCalls] as [String: Any] },
            "phases": phases.map { ["phase": $0.phase, "total_ms": $0.totalMs, "node_ms": $0.nodeMs, "percent": $0.percentOfRun] as [String: Any] },
            "top_nodes": topNodes.map { ["graph": $0.graph, "node": $0.node, "op": $0.op, "backend": $0.backend,
                                         "calls": $0.calls, "total_ms": $0.totalMs, "percent": $0.percentOfRun] as [String: Any] },
        ]
    }
}
