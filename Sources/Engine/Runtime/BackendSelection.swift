import CCMFormat

/// `auto`: the backend a user would pick for this file on this machine. Quantized files (int8
/// tensors) run on `int8` when it can run here; everything else on `blas`; `naive` only when
/// asked by name (it is the reference, many times slower).
enum BackendSelection {
    static let automatic = "auto"

    /// Whether `file` holds int8 tensors (written by `clipcapctl quantize`).
    static func isQuantized(_ file: ModelFile) -> Bool { file.tensors.contains { $0.dtype == .i8 } }

    /// The name of the backend `auto` means for `file`, among those registered and available.
    static func resolve(for file: ModelFile, registry: BackendRegistry) -> String {
        let preferred = isQuantized(file) ? ["int8", "blas"] : ["blas"]
        for name in preferred {
            if let b = registry.backend(named: name), b.availability.available { return name }
        }
        return "naive"
    }
}

/// How much of a model's work falls through the chain to the reference backend (`naive`),
/// estimated at load: the share of the nodes, and of the weight bytes the nodes read (the
/// products that dominate a run's time are the nodes with weights, in proportion to their size).
/// Nodes an earlier fast backend takes over (int8 -> blas for float ops) are not counted: that
/// is the chain doing its job, not a slow run.
public struct FallbackShare: Sendable, Equatable {
    public var nodes: Double
    public var weightBytes: Double
    /// The reference backend's ops, most weight bytes first.
    public var ops: [String]

    /// More than this share of the weight bytes (or twice it of the nodes) on the fallback is
    /// no longer "an odd op": the run is mostly on the slower backend.
    public static let trivial = 0.05

    public var isSignificant: Bool { weightBytes > Self.trivial || nodes > 2 * Self.trivial }

    static func measure(_ graphs: [CompiledGraph], file: ModelFile) -> FallbackShare {
        var nodes = 0, fallbackNodes = 0, bytes = 0, fallbackBytes = 0
        var opBytes: [String: Int] = [:]
        for g in graphs {
            for (i, n) in g.nodes.enumerated() where !n.isAlias {
                let b = g.weightNamesByNode[i].reduce(0) { $0 + (file.tensor(named: $1)?.byteCount ?? 0) }
                nodes += 1
                bytes += b
                if g.runsOnReference(n) {
                    fallbackNodes += 1
                    fallbackBytes += b
                    opBytes[n.node.op, default: 0] += b
                }
            }
        }
        return FallbackShare(nodes: nodes > 0 ? Double(fallbackNodes) / Double(nodes) : 0,
                             weightBytes: bytes > 0 ? Double(fallbackBytes) / Double(bytes) : 0,
                             ops: opBytes.sorted { $0.value == $1.value ? $0.key < $1.key : $0.value > $1.value }.map(\.key))
    }
}
