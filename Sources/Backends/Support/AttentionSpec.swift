import CCMFormat
import Engine

/// The attributes of an `attention` / `attention_cached` node and the shape checks of a call.
public struct AttentionSpec: Sendable {
    public let heads: Int
    public let causal: Bool
    /// `nil`: `1/sqrt(D/heads)`.
    public let scale: Float?

    public init(_ request: KernelRequest, cached: Bool) throws {
        let label = NodeLabel(request.node)
        let heads = try request.int("heads", default: 1)
        guard heads >= 1 else { throw label.error("heads must be >= 1, got \(heads)") }
        self.heads = heads
        let causalAttr = try request.int("causal", default: cached ? 1 : 0)
        guard causalAttr == 0 || causalAttr == 1 else { throw label.error("causal must be 0 or 1, got \(causalAttr)") }
        causal = cached || causalAttr == 1
        if let s = try request.optionalFloat("scale") {
            guard s.isFinite else { throw label.error("scale must be finite, got \(s)") }
            scale = Float(s)
        } else {
            scale = nil
        }
    }

    /// Sizes of one call.
    public struct Geometry {
        public var batch: Int
        public var queries: Int
        public var keys: Int
        public var model: Int
        public var headDim: Int
        public var scale: Float
    }

    /// Checks `q` [B, Tq, D], `k`/`v` [B, Tk, D] and returns the sizes.
    public func geometry(q: Shape, k: Shape, v: Shape, _ label: NodeLabel) throws -> Geometry {
        guard q.rank == 3, k.rank == 3, v.rank == 3 else {
            throw label.error("q, k, v must be [B, T, D]; got \(q), \(k), \(v)")
        }
        guard k == v, k[0] == q[0], k[2] == q[2] else {
            throw label.error("q \(q), k \(k), v \(v) disagree (need q [B, Tq, D], k = v [B, Tk, D])")
        }
        let d = q[2]
        guard d % heads == 0 else { throw label.error("model width \(d) is not divisible by \(heads) heads") }
        let dh = d / heads
        return Geometry(batch: q[0], queries: q[1], keys: k[1], model: d, headDim: dh,
                        scale: scale ?? (1 / Float(dh).squareRoot()))
    }

    /// The first key a query may see is 0; the last is `query + offset` (causal) or all keys.
    /// - Returns: the number of keys query `i` attends to (0 when the causal window is empty).
    @inlinable public func visibleKeys(query i: Int, queries: Int, keys: Int) -> Int {
        guard causal else { return keys }
        return max(0, min(keys, i + keys - queries + 1))
    }
}
