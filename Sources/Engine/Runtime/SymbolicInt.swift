import CCMFormat

/// An integer attribute that is either fixed in the graph or bound at run time.
public enum SymbolicInt: Sendable, Equatable {
    case fixed(Int)
    case symbol(String)

    init?(_ attr: AttrValue?) {
        switch attr {
        case .int(let v)?: self = .fixed(Int(v))
        case .symbol(let s)?: self = .symbol(s)
        default: return nil
        }
    }

    /// The value under the given bindings.
    func resolve(_ symbols: SymbolBindings) throws -> Int {
        switch self {
        case .fixed(let v): return v
        case .symbol(let s):
            guard let v = symbols[s] else { throw ExecutorError.unboundSymbol(s) }
            return v
        }
    }
}

/// Values of the run-time symbols (`B`, `T`, `n_past`, `max_ctx`). A tiny fixed table so that
/// binding and lookup allocate nothing per step.
public struct SymbolBindings: Sendable {
    public var B = 1
    public var T = 1
    public var nPast = 0
    public var maxCtx = 1

    public init(B: Int = 1, T: Int = 1, nPast: Int = 0, maxCtx: Int = 1) {
        self.B = B
        self.T = T
        self.nPast = nPast
        self.maxCtx = maxCtx
    }

    public subscript(name: String) -> Int? {
        switch name {
        case "B": return B
        case "T": return T
        case "n_past": return nPast
        case "max_ctx": return maxCtx
        default: return nil
        }
    }
}
