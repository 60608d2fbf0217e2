import CCMFormat
import Engine

/// The attributes of a `slice` node, parsed once; bounds resolved per call.
///
/// Bounds follow the executor's shape inference: a negative `start` (or `end`) counts from the
/// end, `length` gives `end = start + length`, `end` is clamped to the dimension, and a range
/// that still falls outside `0...dim` is an error.
public struct SliceSpec: Sendable {
    public let axis: Int
    public let start: IntOrSymbol
    public let end: IntOrSymbol?
    public let length: IntOrSymbol?

    public init(_ request: KernelRequest) throws {
        let label = NodeLabel(request.node)
        guard let axis = request.int("axis") else { throw label.error("needs an integer 'axis' attribute") }
        guard let start = IntOrSymbol(request.node.attrs["start"]) else {
            throw label.error("needs a 'start' attribute (integer or symbol)")
        }
        let end = IntOrSymbol(request.node.attrs["end"])
        let length = IntOrSymbol(request.node.attrs["length"])
        if request.node.attrs["end"] != nil && end == nil { throw label.error("'end' must be an integer or a symbol") }
        if request.node.attrs["length"] != nil && length == nil { throw label.error("'length' must be an integer or a symbol") }
        if end != nil && length != nil { throw label.error("give 'end' or 'length', not both") }
        self.axis = axis
        self.start = start
        self.end = end
        self.length = length
    }

    /// The axis for an input of rank `rank` (negative axes count from the end).
    public func axis(rank: Int, _ label: NodeLabel) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < rank else { throw label.error("axis \(axis) is out of range for rank \(rank)") }
        return a
    }

    /// `[lo, hi)` along an axis of length `dim` for this run.
    public func bounds(dim: Int, _ context: ExecutionContext, _ label: NodeLabel) throws -> (lo: Int, hi: Int) {
        var lo = try start.resolve(context, label)
        if lo < 0 { lo += dim }
        var hi: Int
        if let length {
            hi = lo + (try length.resolve(context, label))
        } else if let end {
            hi = try end.resolve(context, label)
            if hi < 0 { hi += dim }
        } else {
            hi = dim
        }
        hi = min(hi, dim)
        guard lo >= 0, lo <= hi else { throw label.error("slice [\(lo), \(hi)) is outside 0..<\(dim)") }
        return (lo, hi)
    }
}
