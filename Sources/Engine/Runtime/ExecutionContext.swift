/// Per-session state a kernel may use during a call: the thread pool, the symbols bound for
/// this run (`B`, `T`, `n_past`, ...) and scratch memory.
///
/// One context belongs to one session (one caption in flight); it is never used by two
/// graph runs at once, so kernels may use its scratch freely during their call.
public final class ExecutionContext: @unchecked Sendable {
    /// Workers shared by the kernels of this session.
    public let pool: ThreadPool
    /// Symbol values for the current run.
    public private(set) var symbols: [String: Int] = [:]
    private var scratchBuffer: UnsafeMutableRawPointer?
    private var scratchCapacity = 0

    public init(pool: ThreadPool) {
        self.pool = pool
    }

    deinit { scratchBuffer?.deallocate() }

    /// Binds a symbol for the following runs.
    public func bind(_ symbol: String, _ value: Int) { symbols[symbol] = value }

    /// The value of a bound symbol.
    public func symbol(_ name: String) throws -> Int {
        guard let v = symbols[name] else { throw KernelError("symbol '\(name)' is not bound") }
        return v
    }

    /// Scratch memory of at least `bytes` bytes, 64-byte aligned, valid until the next call of
    /// `scratch` (i.e. for the duration of one kernel call). Grows once, then never allocates.
    public func scratch(bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > scratchCapacity {
            scratchBuffer?.deallocate()
            scratchCapacity = max(bytes, scratchCapacity * 2, 1 << 16)
            scratchBuffer = UnsafeMutableRawPointer.allocate(byteCount: scratchCapacity, alignment: 64)
        }
        return scratchBuffer!
    }
}
