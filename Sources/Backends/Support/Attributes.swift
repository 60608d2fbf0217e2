import CCMFormat
import Engine

/// An integer attribute that is either fixed in the graph or a symbol bound at run time
/// (`n_past`, `T`, ...). Resolved with the execution context on every call.
public enum IntOrSymbol: Sendable, Equatable {
    case value(Int)
    case symbol(String)

    /// Parses an attribute; `nil` when absent or not an integer / symbol.
    public init?(_ attr: AttrValue?) {
        switch attr {
        case .int(let v)?: self = .value(Int(v))
        case .symbol(let s)?: self = .symbol(s)
        default: return nil
        }
    }

    /// The value for this run.
    @inlinable public func resolve(_ context: ExecutionContext, _ label: NodeLabel) throws -> Int {
        switch self {
        case .value(let v): return v
        case .symbol(let s): return try label.symbol(s, context)
        }
    }
}

/// The activation a `linear` / `linear_i8` node applies to its output (attribute `activation`).
public enum LinearActivation: String, Sendable, CaseIterable {
    case none
    case geluTanh = "gelu_tanh"
    case geluErf = "gelu_erf"
    case quickGelu = "quick_gelu"
    case tanh
    case relu

    /// Reads the `activation` attribute (absent means `none`).
    public init(_ request: KernelRequest) throws {
        guard let attr = request.node.attrs["activation"] else { self = .none; return }
        guard case .string(let s) = attr, let a = LinearActivation(rawValue: s) else {
            let known = LinearActivation.allCases.map(\.rawValue).joined(separator: ", ")
            throw NodeLabel(request.node).error("activation \(attr) is not one of \(known)")
        }
        self = a
    }

    /// The reference formula (docs/OPS.md), evaluated in `Double`.
    @inlinable public func apply(_ x: Float) -> Float {
        switch self {
        case .none: return x
        case .geluTanh: return ReferenceMath.geluTanh(x)
        case .geluErf: return ReferenceMath.geluErf(x)
        case .quickGelu: return ReferenceMath.quickGelu(x)
        case .tanh: return ReferenceMath.tanh(x)
        case .relu: return ReferenceMath.relu(x)
        }
    }
}

extension KernelRequest {
    /// Whether optional input `index` is present (named) in the node.
    public func hasInput(_ index: Int) -> Bool {
        index < node.inputs.count && !node.inputs[index].isEmpty
    }

    /// Throws unless the node has at least `count` inputs, the first `required` of them present.
    public func requireInputs(_ required: Int, atMost: Int? = nil) throws {
        let label = NodeLabel(node)
        for i in 0..<required where !hasInput(i) {
            throw label.error("needs \(required) inputs, input \(i) is missing")
        }
        if let atMost, node.inputs.count > atMost {
            throw label.error("takes at most \(atMost) inputs, got \(node.inputs.count)")
        }
    }

    /// An integer attribute or a default; throws when present with another type.
    public func int(_ key: String, default value: Int) throws -> Int {
        guard let attr = node.attrs[key] else { return value }
        guard let v = int(key) else { throw NodeLabel(node).error("attribute '\(key)' must be an integer, got \(attr)") }
        return v
    }

    /// A float attribute (integers accepted), or `nil` when absent; throws when present with another type.
    public func optionalFloat(_ key: String) throws -> Double? {
        guard let attr = node.attrs[key] else { return nil }
        guard let v = float(key) else { throw NodeLabel(node).error("attribute '\(key)' must be a number, got \(attr)") }
        return v
    }
}
