import CCMFormat

/// Builds one node's kernel at load, or returns `nil` when the node's element types or
/// attributes are outside what the kernel runs (the next backend of the chain gets it).
public typealias KernelFactory = @Sendable (KernelRequest) throws -> (any Kernel)?

/// One operator a backend dispatches: what `clipcapctl backends` says about it, and how the
/// kernel is built.
public struct KernelEntry: Sendable {
    public let capability: OpCapability
    public let make: KernelFactory

    /// - Parameters:
    ///   - op: the operator (docs/OPS.md).
    ///   - weightTypes: element types accepted for its weight operand (empty: it has none).
    ///   - note: one line on how it runs.
    public init(_ op: String, weightTypes: [DType] = [], note: String = "", make: @escaping KernelFactory) {
        capability = OpCapability(op: op, weightTypes: weightTypes, note: note)
        self.make = make
    }
}

/// A backend's dispatch: operator name -> kernel factory. The backend's capability list is this
/// table's entries, so what `clipcapctl backends` lists is exactly what the backend dispatches.
/// Built once per backend; a lookup is one dictionary access, done once per node at load.
public struct KernelTable: Sendable {
    /// The entries, in the order the backend declared them.
    public let entries: [KernelEntry]
    private let index: [String: Int]

    /// A later entry for an op already in the table replaces the earlier one (e.g. a backend
    /// that starts from a shared list and overrides one op).
    public init(_ entries: [KernelEntry]) {
        var list: [KernelEntry] = []
        var index: [String: Int] = [:]
        for e in entries {
            if let i = index[e.capability.op] { list[i] = e } else { index[e.capability.op] = list.count; list.append(e) }
        }
        self.entries = list
        self.index = index
    }

    /// The operators dispatched, in table order.
    public var ops: [String] { entries.map(\.capability.op) }

    /// The capability list (one per entry).
    public var capabilities: [OpCapability] { entries.map(\.capability) }

    /// Whether `op` has an entry.
    public func contains(_ op: String) -> Bool { index[op] != nil }

    /// The kernel for `request`, or `nil` when the op has no entry or its factory declines.
    public func makeKernel(for request: KernelRequest) throws -> (any Kernel)? {
        guard let i = index[request.node.op] else { return nil }
        return try entries[i].make(request)
    }
}

/// The ordered backends a model's nodes may run on: the chosen backend, then the backend it
/// falls back to, and so on (int8 -> blas -> naive). For each node, the first backend whose
/// table has the op and whose kernel accepts the node runs it. Resolved once per node, at load:
/// a run never consults the chain.
public struct BackendChain: Sendable {
    /// The reference backend: it runs every operator, so every chain ends with it when it is registered.
    public static let reference = "naive"

    /// The backends, chosen one first.
    public let backends: [any Backend]

    /// The chosen backend.
    public var first: any Backend { backends[0] }

    /// An explicit chain (tests, embedders). `backends` must not be empty.
    public init(_ backends: [any Backend]) {
        precondition(!backends.isEmpty, "a backend chain needs at least one backend")
        self.backends = backends
    }

    /// `backend`, then each backend's `fallbackBackend` in turn, skipping backends that are not
    /// registered or cannot run on this machine, never visiting one twice; the reference backend
    /// closes the chain when it is registered and not already in it.
    public static func resolve(from backend: any Backend, registry: BackendRegistry) -> BackendChain {
        var list: [any Backend] = [backend]
        var seen: Set<String> = [backend.name]
        var next = backend.fallbackBackend
        while let name = next, !seen.contains(name) {
            seen.insert(name)
            guard let b = registry.backend(named: name) else { break }
            if b.availability.available { list.append(b) }
            next = b.fallbackBackend
        }
        if !list.contains(where: { $0.name == reference }), let naive = registry.backend(named: reference) {
            list.append(naive)
        }
        return BackendChain(list)
    }

    /// The names, in order (`int8 -> blas -> naive`).
    public var names: [String] { backends.map(\.name) }

    /// The kernel for `request` from the first backend that supports the node, with that
    /// backend's position in the chain; `nil` when none does. A backend that throws (a
    /// malformed node) stops the search: the node is wrong for every backend.
    public func makeKernel(for request: KernelRequest) throws -> (kernel: any Kernel, position: Int)? {
        for (i, b) in backends.enumerated() {
            if let kernel = try b.makeKernel(for: request) { return (kernel, i) }
        }
        return nil
    }

    /// The first backend of the chain that lists `op` (the one that runs it unless its kernel
    /// declines the node's element types), or nil when none lists it.
    public func plannedBackend(for op: String) -> (any Backend)? {
        backends.first { $0.kernels.contains(op) }
    }
}

extension Array where Element == KernelEntry {
    /// These entries as a dispatch table.
    public var table: KernelTable { KernelTable(self) }
}
