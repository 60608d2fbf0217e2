import Foundation

/// One executed node, as the profiler saw it.
public struct NodeEvent: Sendable {
    public var graph: String
    public var phase: String
    public var nodeIndex: Int
    public var nodeName: String
    public var op: String
    public var backend: String
    public var isFallback: Bool
    public var startNanos: UInt64
    public var endNanos: UInt64
    public var flops: Double
    public var bytes: Double
    public var threadID: Int
    public var durationNanos: UInt64 { endNanos - startNanos }
}

/// A named phase (image decode, preprocess, CLIP, mapper, prefill, decode step N).
public struct PhaseEvent: Sendable {
    public var name: String
    public var startNanos: UInt64
    public var endNanos: UInt64
}

/// Collects per-node and per-phase timings when profiling is on. When off, the executor
/// holds `nil` and pays one branch per node.
public final class Profiler: @unchecked Sendable {
    public private(set) var nodes: [NodeEvent] = []
    public private(set) var phases: [PhaseEvent] = []
    private var currentPhase = ""
    private let lock = NSLock()

    public init() { nodes.reserveCapacity(1 << 14) }

    /// Marks the start of a phase; subsequent nodes belong to it.
    public func beginPhase(_ name: String) -> UInt64 {
        lock.lock(); defer { lock.unlock() }
        currentPhase = name
        return DispatchTime.now().uptimeNanoseconds
    }

    /// Records a completed phase.
    public func endPhase(_ name: String, start: UInt64) {
        lock.lock(); defer { lock.unlock() }
        phases.append(PhaseEvent(name: name, startNanos: start, endNanos: DispatchTime.now().uptimeNanoseconds))
    }

    func record(graph: String, node index: Int, compiled: CompiledNode, inputShapes: [TensorView], output: Shape,
                symbols: SymbolBindings, start: UInt64, end: UInt64) {
        let (flops, bytes) = OpCost.estimate(op: compiled.node.op, inputs: inputShapes, output: output, symbols: symbols)
        let thread = Profiler.threadNumber()
        lock.lock(); defer { lock.unlock() }
        nodes.append(NodeEvent(graph: graph, phase: currentPhase, nodeIndex: index, nodeName: compiled.node.name,
                               op: compiled.node.op, backend: compiled.backendName, isFallback: compiled.isFallback,
                               startNanos: start, endNanos: end, flops: flops, bytes: bytes, threadID: thread))
    }

    /// A small stable number for the calling thread (trace tracks).
    static func threadNumber() -> Int {
        Int(truncatingIfNeeded: pthread_self()) & 0x7fff_ffff
    }

    /// Forgets everything recorded (between warm-up and measured runs).
    public func reset() {
        lock.lock(); defer { lock.unlock() }
        nodes.removeAll(keepingCapacity: true)
        phases.removeAll(keepingCapacity: true)
    }
}

/// Rough FLOP and byte counts per op, for GFLOP/s and GB/s columns.
enum OpCost {
    static func estimate(op: String, inputs: [TensorView], output: Shape, symbols: SymbolBindings) -> (Double, Double) {
        let outN = Double(output.elementCount)
        let inBytes = inputs.reduce(0.0) { $0 + Double($1.byteCount) }
        let bytes = inBytes + outN * 4
        switch op {
        case "linear", "linear_i8":
            let k = Double(inputs[0].shape.last)
            return (2 * outN * k, bytes)
        case "matmul":
            let a = inputs[0].shape
            return (2 * outN * Double(a.last), bytes)
        case "attention", "attention_cached":
            let q = inputs[0].shape
            if op == "attention_cached" {
                // Reads n_past + T cached rows of K and V per batch row, not the whole capacity.
                let keys = Double(symbols.nPast + symbols.T)
                let kvBytes = 2 * Double(q[0]) * keys * Double(q.last) * 4
                return (4 * Double(q.elementCount) * keys, Double(3 * q.elementCount * 4) + kvBytes + outN * 4)
            }
            let keys = Double(inputs[1].shape[1])
            return (4 * Double(q.elementCount) * keys, bytes)
        case "conv2d", "conv2d_i8":
            // Multiply-adds per output element: C·kh·kw (the weight's elements over its out channels).
            let w = inputs.count > 1 ? inputs[1].shape : Shape(1)
            let reduction = w.rank >= 2 ? Double(w.elementCount / max(w[0], 1)) : 1
            return (2 * outN * reduction, bytes)
        case "layer_norm", "softmax", "gelu_erf", "gelu_tanh", "quick_gelu":
            return (8 * outN, bytes)
        default:
            return (outN, bytes)
        }
    }
}
