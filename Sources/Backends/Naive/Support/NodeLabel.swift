import CCMFormat
import Engine

/// The node a kernel was built for, kept so that every error names it.
///
/// Kernels hold one of these instead of the whole `GraphNode` so that a run-time error can say
/// which node failed without the kernel keeping attribute dictionaries around.
public struct NodeLabel: Sendable, Equatable {
    /// Node name from the graph.
    public let name: String
    /// Operator name (docs/OPS.md).
    public let op: String

    public init(_ node: GraphNode) {
        name = node.name
        op = node.op
    }

    /// A `KernelError` whose message starts with the node and operator.
    public func error(_ message: String) -> KernelError {
        KernelError("node '\(name)' (\(op)): \(message)")
    }
}
