import CCMFormat
import CInt8Kernels
import Engine
import KernelSupport

/// `linear_i8` on the int8 micro-kernels: `out = act(x · dequant(w)ᵀ + b)`.
///
/// Per call, each row of `x` is quantized to symmetric int8 (one scale per row for the
/// `per_channel` scheme, one per block for `block`), then the int32 products are scaled by
/// activation scale × weight scale with the bias fused in C, and the activation is applied by
/// the vectorised float code of the BLAS backend. The int8 weight `[N, K]` is read straight from
/// the model file's memory map; output channels are split into a few chunks over the session's
/// thread pool. `per_channel` runs on AVX-512 VNNI (`vpdpbusd`) where the CPU has it, else on
/// AVX2 (`vpmaddubsw` + sign trick); `block` always on AVX2.
struct Int8Linear: Kernel {
    let nodeName: String
    let n: Int
    let k: Int
    /// 0 for per_channel; the block length otherwise.
    let block: Int
    let weight: WeightTensor
    let scales: PreparedFloats
    let bias: PreparedFloats?
    /// Input index of a bias computed by the graph (not a model-file tensor).
    let runtimeBiasIndex: Int?
    let activation: LinearActivation
    /// Per-row sums of the weight, for the VNNI kernel's unsigned-shift correction; nil on the
    /// AVX2 path. Computed once at load (n Int32s; the weight itself is never copied).
    let rowSums: [Int32]?

    /// Below this many multiply-adds a call runs on the calling thread (waking workers costs
    /// ~10 µs, more than the work).
    static let parallelThreshold = 1 << 17

    /// `nil` when the weight is not an int8 model-file tensor (another backend may handle it);
    /// throws for malformed nodes.
    init?(_ request: KernelRequest, path: Int8KernelPath = .automatic) throws {
        let node = request.node
        nodeName = node.name
        func fail(_ message: String) -> KernelError { KernelError("node '\(node.name)' (linear_i8): \(message)") }
        guard node.inputs.count >= 3, node.inputs.count <= 4, !node.inputs[0].isEmpty,
              !node.inputs[1].isEmpty, !node.inputs[2].isEmpty else {
            throw fail("needs inputs (x, w, scales[, b]), got \(node.inputs)")
        }
        guard let w = request.constants.count > 1 ? request.constants[1] : nil, w.dtype == .i8 else { return nil }
        if let xType = request.inputTypes.first ?? nil, xType != .f32 { return nil }
        guard w.shape.rank == 2 else { throw fail("weight '\(w.name)' must be [N, K], got \(w.shape)") }
        n = w.shape[0]
        k = w.shape[1]
        guard w.bytes.count >= n * k else { throw fail("weight '\(w.name)' holds fewer bytes than \(w.shape) needs") }
        weight = w
        guard let s = request.constants[2], let prepared = PreparedFloats(weight: s) else {
            throw fail("scales (input 2) must be a float tensor of the model file")
        }
        scales = prepared
        let scheme = request.string("scheme") ?? "per_channel"
        switch scheme {
        case "per_channel":
            block = 0
            guard prepared.count == n else { throw fail("per_channel scales have \(prepared.count) values, expected \(n)") }
        case "block":
            guard let b = request.int("block"), b >= 1 else { throw fail("scheme 'block' needs an integer attribute 'block' >= 1") }
            block = b
            let blocks = (k + b - 1) / b
            guard prepared.count == n * blocks else {
                throw fail("block scales have \(prepared.count) values, expected \(n) x \(blocks)")
            }
        default:
            throw fail("scheme must be 'per_channel' or 'block', got '\(scheme)'")
        }
        if node.inputs.count > 3, !node.inputs[3].isEmpty {
            if let b = request.constants[3] {
                guard let pb = PreparedFloats(weight: b), pb.count == n else {
                    throw fail("bias '\(b.name)' must be a float tensor of \(n) values, got \(b.dtype) \(b.shape)")
                }
                bias = pb
                runtimeBiasIndex = nil
            } else {
                bias = nil
                runtimeBiasIndex = 3
            }
        } else {
            bias = nil
            runtimeBiasIndex = nil
        }
        activation = try LinearActivation(request)
        if block == 0, path.usesVNNI {
            var sums = [Int32](repeating: 0, count: n)
            let base = w.bytes.baseAddress!.assumingMemoryBound(to: Int8.self)
            let (rows, cols) = (Int64(n), Int64(k))
            sums.withUnsafeMutableBufferPointer { ci8_row_sums(base, rows, cols, $0.baseAddress) }
            rowSums = sums
        } else {
            rowSums = nil
        }
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        guard let x = inputs.first, x.dtype == .f32, x.shape.rank >= 1, x.shape.last == k else {
            throw KernelError("node '\(nodeName)' (linear_i8): x is \(inputs.first.map { "\($0.dtype) \($0.shape)" } ?? "missing") but the weight expects f32 [..., \(k)]")
        }
        let m = x.shape.rows
        var expected = x.shape
        expected.removeLast()
        expected.append(n)
        guard let out = outputs.first, out.dtype == .f32, out.shape == expected, let dst = out.mutableFloats else {
            throw KernelError("node '\(nodeName)' (linear_i8): output view must be f32 \(expected)")
        }
        var biasPointer: UnsafePointer<Float>? = bias?.base
        if let index = runtimeBiasIndex {
            guard index < inputs.count, inputs[index].dtype == .f32, inputs[index].elementCount == n else {
                throw KernelError("node '\(nodeName)' (linear_i8): bias must be f32 [\(n)]")
            }
            biasPointer = UnsafePointer(inputs[index].floats)
        }
        if m == 0 || n == 0 { return }

        // Scratch: activation scales (64-byte padded), then the quantized activations.
        let raw = context.scratch(bytes: quantizedBytes(rows: m))
        let (xq, sx) = quantize(UnsafePointer(x.floats), rows: m, into: raw)
        multiply(xq, sx, rows: m, bias: biasPointer, activation: activation, into: dst, context: context)
    }

    /// Bytes `quantize` needs for `rows` rows: their scales (64-byte padded), then the int8 rows.
    func quantizedBytes(rows m: Int) -> Int {
        let groups = block == 0 ? 1 : (k + block - 1) / block
        return ((m * groups * 4 + 63) & ~63) + m * k
    }

    /// Quantizes `rows` rows of `x [rows, K]` into `raw` (`quantizedBytes(rows:)` bytes): the
    /// int8 rows (shifted to unsigned for the VNNI kernel) and their scales.
    func quantize(_ x: UnsafePointer<Float>, rows m: Int, into raw: UnsafeMutableRawPointer) -> (UnsafeMutablePointer<Int8>, UnsafeMutablePointer<Float>) {
        let groups = block == 0 ? 1 : (k + block - 1) / block
        let scaleBytes = (m * groups * 4 + 63) & ~63
        let sx = raw.assumingMemoryBound(to: Float.self)
        let xq = (raw + scaleBytes).assumingMemoryBound(to: Int8.self)
        ci8_quantize_rows(x, Int64(m), Int64(k), Int64(block == 0 ? k : block), xq, sx)
        if rowSums != nil { ci8_shift_to_unsigned(xq, Int64(m * k), UnsafeMutableRawPointer(xq).assumingMemoryBound(to: UInt8.self)) }
        return (xq, sx)
    }

    /// `dst [rows, N] = act(dequant(xq) · dequant(w)ᵀ + bias)` over the pool, for rows quantized by `quantize`.
    func multiply(_ xq: UnsafeMutablePointer<Int8>, _ sx: UnsafeMutablePointer<Float>, rows m: Int, bias biasPointer: UnsafePointer<Float>?,
                  activation: LinearActivation, into dst: UnsafeMutablePointer<Float>, context: ExecutionContext) {
        let w = weight.bytes.baseAddress!.assumingMemoryBound(to: Int8.self)
        let sw = scales.base
        let (m64, k64, n64, blk, rowSums, n) = (Int64(m), Int64(k), Int64(n), Int64(block), rowSums, n)
        let chunks = Int8Linear.chunkCount(m: m, n: n, k: k, threads: context.pool.threads)
        let per = ((n + chunks - 1) / chunks + 3) & ~3   // whole 4-row tiles per chunk
        let body: (Int) -> Void = { c in
            let n0 = min(n, c * per), n1 = min(n, n0 + per)
            if n0 >= n1 { return }
            if let rowSums {
                rowSums.withUnsafeBufferPointer { sums in
                    let xu = UnsafeRawPointer(xq).assumingMemoryBound(to: UInt8.self)
                    ci8_linear_per_channel_vnni(xu, sx, m64, k64, w, sums.baseAddress, sw, biasPointer,
                                                Int64(n0), Int64(n1), dst, n64)
                }
            } else if blk == 0 {
                ci8_linear_per_channel(xq, sx, m64, k64, w, sw, biasPointer, Int64(n0), Int64(n1), dst, n64)
            } else {
                ci8_linear_block(xq, sx, m64, k64, blk, w, sw, biasPointer, Int64(n0), Int64(n1), dst, n64)
            }
            VectorActivation.apply(activation, dst + n0, rows: m, count: n1 - n0, stride: n)
        }
        if chunks == 1 { body(0) } else { context.pool.parallelFor(chunks, body) }
    }

    /// A few chunks per thread (dynamic claiming evens out a busy core), never one per channel.
    static func chunkCount(m: Int, n: Int, k: Int, threads: Int) -> Int {
        if threads <= 1 || m * n * k < parallelThreshold || n < 8 { return 1 }
        return min(threads * 2, max(1, n / 4), 8)
    }
}
