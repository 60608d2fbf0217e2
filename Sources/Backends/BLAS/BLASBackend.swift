import CBLAS
import CCMFormat
import CCPUFeatures
import Engine
import NaiveBackend

/// The fast fp32 backend: `linear` on AVX-512 kernels where the CPU has them (1-16 rows: few-row
/// kernels that read each weight once for all rows; more rows with `io` weights: the panel
/// kernel, which also reads `f16` weights in place) and on OpenBLAS otherwise (`sgemm`, `sgemv`
/// for single rows); `matmul` on OpenBLAS; fused multi-head attention; activations and
/// normalisations on `CVectorKernels` (AVX-512 / AVX2+FMA / portable C, picked at run time) and
/// plain SIMD Swift for the remaining element-wise operators.
/// `linear_i8` is left to the int8 backend (the executor falls back to `naive` for it here).
public final class BLASBackend: Backend {
    public let name = "blas"

    /// Creating the first BLAS backend of the process also makes sure OpenBLAS uses its AVX2 /
    /// AVX-512 kernels on CPUs it does not recognise (see `CoreSelection`).
    public init() {
        _ = CoreSelection.outcome
    }

    public var summary: String {
        let switched = CoreSelection.outcome
        var kernels = FewRowProduct.rowRange.map { rows in
            let set = FewRowProduct.kernels?.name ?? "?"
            return " + \(set) kernels for \(rows.lowerBound)-\(rows.upperBound)-row products" + (set == "avx512" ? " and attention heads" : "")
        } ?? ""
        if PanelProduct.available { kernels += " + AVX-512 panel kernel for many-row io products (f32/f16)" }
        return "OpenBLAS sgemm/sgemv + C vector kernels (\(String(cString: clipcap_cpu_level_name(clipcap_cpu_level()))))\(kernels) [\(OpenBLAS.config)]" + (switched.isEmpty ? "" : " (\(switched))")
    }

    /// Available when the linked library is OpenBLAS (its config string names it); the reason
    /// carries that config string either way.
    public var availability: (available: Bool, reason: String) {
        let config = OpenBLAS.config
        return config.contains("OpenBLAS") ? (true, config) : (false, "linked BLAS is not OpenBLAS: \(config)")
    }

    static let floatWeights: [DType] = [.f32, .f16, .bf16]

    public let capabilities: [OpCapability] = {
        var list: [OpCapability] = [
            OpCapability(op: "gather", weightTypes: floatWeights, note: "f32 rows copied from the file; f16/bf16 widened per row"),
            OpCapability(op: "linear", weightTypes: floatWeights,
                         note: "AVX-512 where present: 1-16 rows on few-row kernels, more rows with io weights on the panel kernel (f16 io weights read in place); else sgemm, sgemv for single rows; io (NN) and oi (NT); other f16/bf16 widened once; bias+activation epilogue"),
            OpCapability(op: "matmul", weightTypes: floatWeights, note: "sgemm per batch entry; sgemv for single rows"),
            OpCapability(op: "attention", note: "fused per (batch, head), AVX-512 head kernel where present (else the C vector kernels' head loop), over the pool"),
            OpCapability(op: "attention_cached", note: "fused, KV cache rows [n_past, n_past+T)"),
        ]
        for op in ["add", "mul", "scale", "gelu_erf", "gelu_tanh", "quick_gelu", "tanh", "relu",
                   "layer_norm", "l2_normalize", "softmax", "reshape", "permute", "slice", "concat", "expand"] {
            let vectorKernel = ["scale", "gelu_erf", "gelu_tanh", "quick_gelu", "tanh", "relu",
                                "layer_norm", "l2_normalize", "softmax"].contains(op)
            list.append(OpCapability(op: op, weightTypes: floatWeights, note: vectorKernel ? "C vector kernels, per CPU level" : "SIMD8"))
        }
        // Spatial operators (CLIP ResNet encoders).
        list.append(OpCapability(op: "conv2d", weightTypes: floatWeights, note: "im2col + sgemm (1x1 stride-1: sgemm on the input); bias+relu epilogue"))
        list.append(OpCapability(op: "avg_pool2d", note: "naive kernel (memory-bound, small)"))
        return list
    }()

    public func makeKernel(for request: KernelRequest) throws -> (any Kernel)? {
        switch request.node.op {
        case "gather": return try BLASGather(request)
        case "linear": return try BLASLinear(request)
        case "matmul": return try BLASMatmul(request)
        case "add", "mul": return try BLASBinary(request)
        case "scale", "gelu_erf", "gelu_tanh", "quick_gelu", "tanh", "relu": return try BLASUnary(request)
        case "layer_norm", "l2_normalize", "softmax": return try BLASRowwise(request)
        case "permute": return try BLASPermute(request)
        // Plain block copies: the naive backend's kernels are already what this one would do.
        case "reshape": return try NaiveReshape(request)
        case "slice": return try NaiveSlice(request)
        case "concat": return try NaiveConcat(request)
        case "expand": return try NaiveExpand(request)
        case "attention": return try BLASAttention(request)
        case "attention_cached": return try BLASAttentionCached(request)
        case "conv2d": return try BLASConv2d(request)
        case "avg_pool2d": return try NaiveAvgPool2d(request)
        default: return nil
        }
    }

    /// Pool threads watch for work only where OpenBLAS is out of the hot path (the few-row and
    /// panel kernels serve every row count there); elsewhere `sgemv`/`sgemm` run on OpenBLAS's
    /// threads, which watching pool threads would fight for the cores (measured: greedy decode
    /// 14 -> 22-25 ms/token when both ran).
    public var poolWatchesForWork: Bool { FewRowProduct.rowRange?.lowerBound == 1 && PanelProduct.usedForF32 }

    /// Sets OpenBLAS's thread count (`openblas_set_num_threads`).
    public func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, min(count, 1024))))
    }
}
