import Foundation

/// Chrome trace-event JSON (the format Perfetto and chrome://tracing open): one complete
/// event ("X") per executed node, phases as enclosing slices, one track per thread.
public enum ChromeTrace {
    /// The trace document for everything the profiler recorded.
    public static func document(_ profiler: Profiler) -> [String: Any] {
        let nodes = profiler.nodes
        let phases = profiler.phases
        let origin = min(nodes.map(\.startNanos).min() ?? 0, phases.map(\.startNanos).min() ?? 0)
        func micros(_ t: UInt64) -> Double { Double(t - origin) / 1000 }
        // Phases belong to the thread whose nodes they contain (the caller's).
        let mainThread = nodes.first?.threadID ?? 0
        var threadNames: [Int: String] = [:]
        var events: [[String: Any]] = []
        for p in phases {
            events.append(["name": p.name, "cat": "phase", "ph": "X", "ts": micros(p.startNanos),
                           "dur": Double(p.endNanos - p.startNanos) / 1000, "pid": 1, "tid": mainThread])
        }
        for e in nodes {
            threadNames[e.threadID] = threadNames[e.threadID] ?? "session thread \(threadNames.count + 1)"
            events.append(["name": e.nodeName, "cat": e.op, "ph": "X", "ts": micros(e.startNanos),
                           "dur": Double(e.durationNanos) / 1000, "pid": 1, "tid": e.threadID,
                           "args": ["graph": e.graph, "op": e.op, "backend": e.backend, "fallback": e.isFallback,
                                    "phase": e.phase, "flops": e.flops, "bytes": e.bytes] as [String: Any]])
        }
        for (tid, name) in threadNames {
            events.append(["name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": ["name": name]])
        }
        events.append(["name": "process_name", "ph": "M", "pid": 1, "tid": mainThread, "args": ["name": "clipcap"]])
        return ["traceEvents": events, "displayTimeUnit": "ms"]
    }

    /// The trace as JSON bytes.
    public static func data(_ profiler: Profiler) throws -> Data {
        try JSONSerialization.data(withJSONObject: document(profiler), options: [])
    }
}
