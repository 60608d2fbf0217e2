import CCMFormat
import Engine

/// Checks of the KV caches of one `attention_cached` call, shared by every backend: the cache
/// shapes, and each row's cached length (`past_lengths[b]` when the node has that input, else
/// the run's `n_past` for every row) against the capacity.
public struct CacheGeometry {
    /// Index of the optional `past_lengths` input (i32 `[B]`).
    public static let pastLengthsInput = 5
    /// Rows of each batch entry in the cache (`max_ctx`).
    public let capacity: Int
    /// `n_past` of every row, when the node has no `past_lengths` input.
    private let uniform: Int
    /// Per-row lengths (valid during the call), or nil.
    private let lengths: UnsafePointer<Int32>?

    public init(kCache: Shape, vCache: Shape, batch: Int, model: Int, newRows: Int,
                inputs: [TensorView], context: ExecutionContext, _ label: NodeLabel) throws {
        guard kCache.rank == 3, kCache == vCache, kCache[0] == batch, kCache[2] == model else {
            throw label.error("caches \(kCache) / \(vCache) must both be [\(batch), max_ctx, \(model)]")
        }
        capacity = kCache[1]
        let index = Self.pastLengthsInput
        if inputs.count > index, inputs[index].shape.rank > 0 {
            let view = inputs[index]
            guard view.dtype == .i32, view.shape.rank == 1, view.shape[0] == batch else {
                throw label.error("past_lengths is \(view.dtype) \(view.shape), expected i32 [\(batch)]")
            }
            let p = UnsafePointer(view.data.assumingMemoryBound(to: Int32.self))
            for b in 0..<batch {
                let past = Int(p[b])
                guard past >= 0 else { throw label.error("past_lengths[\(b)] is \(past)") }
                guard past + newRows <= capacity else {
                    throw label.error("KV cache overflow: row \(b) has \(past) cached + \(newRows) new positions > capacity \(capacity) (decoder.max_context); generate fewer tokens")
                }
            }
            lengths = p
            uniform = 0
        } else {
            let nPast = try label.symbol("n_past", context)
            guard nPast >= 0 else { throw label.error("n_past is \(nPast)") }
            guard nPast + newRows <= capacity else {
                throw label.error("KV cache overflow: n_past \(nPast) + \(newRows) new positions > capacity \(capacity) (decoder.max_context); generate fewer tokens")
            }
            lengths = nil
            uniform = nPast
        }
    }

    /// The per-row lengths (`past_lengths`, valid during the call), nil when every row has `n_past`.
    public var pastLengths: UnsafePointer<Int32>? { lengths }

    /// Cached positions of row `b` before this call.
    @inline(__always) public func nPast(_ b: Int) -> Int { lengths.map { Int($0[b]) } ?? uniform }
}
