import CCMFormat
import Foundation
import Engine
import KernelSupport

/// Scaled dot-product attention of one (batch, head), the plain way, in `Double`:
/// scores, max-subtracted softmax over the visible keys, weighted sum of values.
/// Rows are `stride` floats apart; the head's columns start at `column`.
enum NaiveAttentionMath {
    static func head(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                     out: UnsafeMutablePointer<Float>, queries: Int, stride: Int, column: Int,
                     headDim: Int, scale: Float, visible: (Int) -> Int) {
        for i in 0..<queries {
            let keys = visible(i)
            let outRow = out + i * stride + column
            guard keys > 0 else {
                for c in 0..<headDim { outRow[c] = 0 }
                continue
            }
            var scores = [Double](repeating: 0, count: keys)
            for j in 0..<keys {
                var dot: Double = 0
                for c in 0..<headDim { dot += Double(q[i * stride + column + c]) * Double(k[j * stride + column + c]) }
                scores[j] = dot * Double(scale)
            }
            let m = scores.max() ?? 0
            var sum: Double = 0
            for j in 0..<keys {
                scores[j] = Foundation.exp(scores[j] - m)
                sum += scores[j]
            }
            for c in 0..<headDim {
                var acc: Double = 0
                for j in 0..<keys { acc += scores[j] / sum * Double(v[j * stride + column + c]) }
                outRow[c] = Float(acc)
            }
        }
    }
}

/// `attention`: multi-head attention of `q [B, Tq, D]` over `k`, `v` `[B, Tk, D]`; head `h`
/// uses columns `[h·D/heads, (h+1)·D/heads)`; causal: query `i` sees keys `j <= i + Tk - Tq`
/// (a query that sees no key outputs zeros).
struct NaiveAttention: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    let spec: AttentionSpec

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(3, atMost: 3)
        label = NodeLabel(request.node)
        spec = try AttentionSpec(request, cached: false)
        guard let operands = FloatOperands(request) else { return nil }
        self.operands = operands
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let q = try operands.input(0, inputs), k = try operands.input(1, inputs), v = try operands.input(2, inputs)
        let g = try spec.geometry(q: q.shape, k: k.shape, v: v.shape, label)
        let out = try operands.output(outputs, expected: q.shape)
        for b in 0..<g.batch {
            for h in 0..<spec.heads {
                NaiveAttentionMath.head(
                    q: q.pointer + b * g.queries * g.model, k: k.pointer + b * g.keys * g.model,
                    v: v.pointer + b * g.keys * g.model, out: out + b * g.queries * g.model,
                    queries: g.queries, stride: g.model, column: h * g.headDim, headDim: g.headDim,
                    scale: g.scale) { i in spec.visibleKeys(query: i, queries: g.queries, keys: g.keys) }
            }
        }
    }
}

/// `attention_cached`: writes `k`, `v` `[B, T, D]` into rows `[n_past, n_past + T)` of the
/// caches `[B, max_ctx, D]`, then causal attention of `q` over cache rows `[0, n_past + T)`.
/// With the optional sixth input `past_lengths` (i32 `[B]`), row `b` uses its own
/// `n_past = past_lengths[b]` (continuous batching: rows of different captions).
struct NaiveAttentionCached: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    let spec: AttentionSpec

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(5, atMost: 6)
        label = NodeLabel(request.node)
        spec = try AttentionSpec(request, cached: true)
        guard let operands = FloatOperands(request, skipping: [CacheGeometry.pastLengthsInput]) else { return nil }
        self.operands = operands
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let q = try operands.input(0, inputs), k = try operands.input(1, inputs), v = try operands.input(2, inputs)
        let kCache = try operands.mutableInput(3, inputs), vCache = try operands.mutableInput(4, inputs)
        let g = try spec.geometry(q: q.shape, k: k.shape, v: v.shape, label)
        guard g.queries == g.keys else { throw label.error("q \(q.shape) and k \(k.shape) must have the same T") }
        let c = try CacheGeometry(kCache: kCache.shape, vCache: vCache.shape, batch: g.batch, model: g.model,
                                  newRows: g.keys, inputs: inputs, context: context, label)
        let out = try operands.output(outputs, expected: q.shape)
        for b in 0..<g.batch {
            for t in 0..<g.keys {
                for e in 0..<g.model {
                    let source = (b * g.keys + t) * g.model + e
                    let target = (b * c.capacity + c.nPast(b) + t) * g.model + e
                    kCache.floats[target] = k.pointer[source]
                    vCache.floats[target] = v.pointer[source]
                }
            }
        }
        for b in 0..<g.batch {
            let past = c.nPast(b), total = past + g.keys
            for h in 0..<spec.heads {
                NaiveAttentionMath.head(
                    q: q.pointer + b * g.queries * g.model, k: kCache.floats + b * c.capacity * g.model,
                    v: vCache.floats + b * c.capacity * g.model, out: out + b * g.queries * g.model,
                    queries: g.queries, stride: g.model, column: h * g.headDim, headDim: g.headDim,
                    scale: g.scale) { i in min(total, past + i + 1) }
            }
        }
    }
}
