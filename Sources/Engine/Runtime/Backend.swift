import CCMFormat

/// One operator a backend implements, for `clipcapctl backends` and for fallback decisions.
public struct OpCapability: Sendable, Equatable {
    /// Operator name (see docs/OPS.md).
    public var op: String
    /// Element types accepted for weight (constant) operands; empty when the op has none.
    public var weightTypes: [DType]
    /// Free-form remark, e.g. "sgemv for single rows".
    public var note: String

    public init(op: String, weightTypes: [DType] = [], note: String = "") {
        self.op = op
        self.weightTypes = weightTypes
        self.note = note
    }
}

/// Everything a backend needs to build the kernel for one graph node, once, at load time.
public struct KernelRequest: Sendable {
    /// The node: op name, attributes, input and output names.
    public let node: GraphNode
    /// Element type of each input (`nil` for an absent optional input).
    public let inputTypes: [DType?]
    /// For inputs that are model-file tensors (weights): the tensor, so the kernel can prepare it.
    public let constants: [WeightTensor?]

    public init(node: GraphNode, inputTypes: [DType?], constants: [WeightTensor?]) {
        self.node = node
        self.inputTypes = inputTypes
        self.constants = constants
    }

    /// Attribute helpers (integers may be given as symbols; resolve those with the context at run time).
    public func int(_ key: String) -> Int? {
        if case .int(let v)? = node.attrs[key] { return Int(v) }
        return nil
    }
    public func float(_ key: String) -> Double? {
        switch node.attrs[key] {
        case .float(let v)?: return v
        case .int(let v)?: return Double(v)
        default: return nil
        }
    }
    public func string(_ key: String) -> String? {
        if case .string(let v)? = node.attrs[key] { return v }
        return nil
    }
    public func ints(_ key: String) -> [Int]? {
        if case .ints(let v)? = node.attrs[key] { return v.map { Int($0) } }
        return nil
    }
}

/// A prepared operator implementation for one node. Kernels are shared by every session of a
/// loaded model (possibly on several threads at once), so they must not keep per-call state:
/// per-call memory comes from `context.scratch`.
public protocol Kernel: Sendable {
    /// Computes `outputs` from `inputs`. Output views are preallocated by the executor with
    /// the shapes shape inference gave; inputs and outputs never alias unless the op says so.
    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws
}

/// A set of kernels, selected per run (`--backend`). What a backend runs is its `kernels` table:
/// its capability list and its dispatch are that one table (`capabilities` and `makeKernel` are
/// derived from it), so the two cannot disagree. A node the backend declines (op not in the
/// table, or the kernel returns `nil` for those element types or attributes) goes to the next
/// backend of the chain (`fallbackBackend`, `BackendChain`), resolved once per node at load.
public protocol Backend: AnyObject, Sendable {
    /// Short name used on the command line (`naive`, `blas`, `int8`).
    var name: String { get }
    /// One line for `clipcapctl backends`.
    var summary: String { get }
    /// Whether this backend can run on this machine (e.g. the CPU has AVX2), and why not.
    var availability: (available: Bool, reason: String) { get }
    /// What this backend dispatches: one entry per operator, with its kernel factory.
    var kernels: KernelTable { get }
    /// The backend that runs what this one declines (`nil`: none). Default: `naive`, the
    /// reference, which runs every operator.
    var fallbackBackend: String? { get }
    /// Applies a thread count to libraries the backend drives (e.g. OpenBLAS). Default: nothing.
    func setThreads(_ count: Int)
    /// Whether the session's pool threads should watch for the next job between kernels
    /// (`ThreadPool`, `watchForWork`). A backend whose hot kernels run on a library's own
    /// threads (OpenBLAS) says `false`: watching threads would take turns with those on the
    /// cores. Default: `true`.
    var poolWatchesForWork: Bool { get }
}

extension Backend {
    public var availability: (available: Bool, reason: String) { (true, "") }
    public var fallbackBackend: String? { name == BackendChain.reference ? nil : BackendChain.reference }
    public func setThreads(_ count: Int) {}
    public var poolWatchesForWork: Bool { true }

    /// The operators this backend implements: its dispatch table's entries, in table order.
    public var capabilities: [OpCapability] { kernels.capabilities }

    /// Builds the kernel for a node, or returns `nil` when this backend does not support it
    /// (op or element types). Throws only for malformed nodes (bad attributes, wrong ranks).
    public func makeKernel(for request: KernelRequest) throws -> (any Kernel)? {
        try kernels.makeKernel(for: request)
    }
}

/// Errors a kernel or backend reports.
public struct KernelError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
