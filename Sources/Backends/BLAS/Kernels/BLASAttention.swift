import CCMFormat
import CFloatKernels
import CVectorKernels
import Engine
import KernelSupport

/// Fused multi-head attention over row-major `[B, T, D]` tensors, with no transposed copies:
/// a head's columns are addressed in place (rows `D` floats apart). Per (batch, head), in C:
/// vectorised dot products for the scores, causal window, softmax, then a weighted sum of value
/// rows. (Batch, head) pairs are spread over the pool when the work is large enough; each pair
/// gets its own slice of one scratch request. No BLAS calls here, so OpenBLAS's threads and the
/// pool never compete.
enum FusedAttention {
    /// Below this many multiply-adds, one pool round costs more than it saves.
    static let parallelWork = 1 << 18

    struct Problem {
        var q: UnsafePointer<Float>
        var k: UnsafePointer<Float>
        var v: UnsafePointer<Float>
        var out: UnsafeMutablePointer<Float>
        /// Floats between batch entries of `q` / `out`, and of `k` / `v` (the cache capacity for the KV cache).
        var queryBatchStride: Int
        var keyBatchStride: Int
        var batch: Int
        var heads: Int
        var queries: Int
        /// Keys available to the last query.
        var keys: Int
        var model: Int
        var headDim: Int
        var scale: Float
        var causal: Bool
        /// Per-row cached lengths (continuous batching): batch entry `b` then sees
        /// `pastLengths[b] + queries` keys and `keys` is the largest of them (scratch sizing).
        var pastLengths: UnsafePointer<Int32>? = nil
    }

    static func run(_ p: Problem, context: ExecutionContext) {
        let tasks = p.batch * p.heads
        guard tasks > 0, p.queries > 0 else { return }
        let scoreStride = (Swift.max(p.keys, 1) + 15) & ~15
        let scratch = context.scratch(bytes: tasks * scoreStride * MemoryLayout<Float>.stride)
            .bindMemory(to: Float.self, capacity: tasks * scoreStride)
        let work = tasks * p.queries * p.keys * p.headDim
        if work >= parallelWork && context.pool.threads > 1 && tasks > 1 {
            context.pool.parallelFor(tasks) { t in head(p, task: t, scores: scratch + t * scoreStride) }
        } else {
            for t in 0..<tasks { head(p, task: t, scores: scratch + t * scoreStride) }
        }
    }

    /// The AVX-512 head kernel (`cf32_attention_head`) where the CPU has it and the head width
    /// suits it: 4 keys per reduction and a 16-lane exp; CLIP's attention went from 0.52 to
    /// ~0.1 ms a layer. Other CPUs and head widths run `cvk_attention_head` (CVectorKernels: the
    /// same loop in C, vectorised for the CPU's level).
    static let vectorHeads = cf32_uses_avx512() != 0

    @inline(__always) static func head(_ p: Problem, task: Int, scores: UnsafeMutablePointer<Float>) {
        let b = task / p.heads, h = task % p.heads
        var p = p
        if let lengths = p.pastLengths { p.keys = Int(lengths[b]) + p.queries }
        let column = h * p.headDim
        let qBase = p.q + b * p.queryBatchStride + column
        let kBase = p.k + b * p.keyBatchStride + column
        let vBase = p.v + b * p.keyBatchStride + column
        let oBase = p.out + b * p.queryBatchStride + column
        let dh = p.headDim
        if vectorHeads, dh % 16 == 0, dh <= 128 {
            cf32_attention_head(qBase, kBase, vBase, oBase, Int64(p.queries), Int64(p.keys), Int64(p.model),
                                Int64(dh), p.scale, p.causal ? 1 : 0, scores)
            return
        }
        cvk_attention_head(qBase, kBase, vBase, oBase, Int64(p.queries), Int64(p.keys), Int64(p.model),
                           Int64(dh), p.scale, p.causal ? 1 : 0, scores)
    }
}

/// `attention` (docs/OPS.md) with `FusedAttention`.
struct BLASAttention: Kernel {
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
        FusedAttention.run(FusedAttention.Problem(
            q: q.pointer, k: k.pointer, v: v.pointer, out: out,
            queryBatchStride: g.queries * g.model, keyBatchStride: g.keys * g.model,
            batch: g.batch, heads: spec.heads, queries: g.queries, keys: g.keys, model: g.model,
            headDim: g.headDim, scale: g.scale, causal: spec.causal), context: context)
    }
}

/// `attention_cached`: copies `k`, `v` into cache rows `[n_past, n_past + T)`, then
/// `FusedAttention` of `q` over cache rows `[0, n_past + T)`, causal. With `past_lengths`
/// (continuous batching) each row has its own `n_past` and attends alone.
struct BLASAttentionCached: Kernel {
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
        let block = g.keys * g.model
        for b in 0..<g.batch {
            let target = (b * c.capacity + c.nPast(b)) * g.model
            (kCache.floats + target).update(from: k.pointer + b * block, count: block)
            (vCache.floats + target).update(from: v.pointer + b * block, count: block)
        }
        var maxKeys = 0
        for b in 0..<g.batch { maxKeys = max(maxKeys, c.nPast(b) + g.keys) }
        FusedAttention.run(FusedAttention.Problem(
            q: q.pointer, k: UnsafePointer(kCache.floats), v: UnsafePointer(vCache.floats), out: out,
            queryBatchStride: g.queries * g.model, keyBatchStride: c.capacity * g.model,
            batch: g.batch, heads: spec.heads, queries: g.queries, keys: maxKeys, model: g.model,
            headDim: g.headDim, scale: g.scale, causal: true, pastLengths: c.pastLengths), context: context)
    }
}
