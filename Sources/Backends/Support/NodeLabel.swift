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

    /// The value of a run-time symbol, or an error naming this node when it is unbound.
    @inlinable public func symbol(_ name: String, _ context: ExecutionContext) throws -> Int {
        do {
            return try context.symbol(name)
        } catch {
            throw self.error("symbol '\(name)' is not bound for this run (the executor binds B, T, n_past, max_ctx)")
        }
    }

    /// A `KernelError` whose message starts with the node and operator.
    public func error(_ message: String) -> KernelError {
        KernelError("node '\(name)' (\(op)): \(message)")
    }
}
