import CBLAS
import CCMFormat
import CCPUFeatures
import Engine
import KernelSupport

/// The fast fp32 backend: `linear` on AVX-512 kernels where the CPU has them (1-16 rows: few-row
/// kernels that read each weight once for all rows; more rows with `io` weights: the panel
/// kernel, which also reads `f16` weights in place) and on OpenBLAS otherwise (`sgemm`, `sgemv`
/// for single rows); `matmul` on OpenBLAS; fused multi-head attention; activations and
/// normalisations on `CVectorKernels` (AVX-512 / AVX2+FMA / portable C, picked at run time) and
/// plain SIMD Swift for the remaining element-wise operators.
/// `linear_i8` is left to the int8 backend (on this backend's chain, `naive` runs it).
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

    /// What this backend dispatches (and so what `clipcapctl backends` lists). `linear_i8` and
    /// `conv2d_i8` are not here: the chain gives them to the next backend.
    public let kernels = KernelTable({
        let w = floatWeights
        let vector = "C vector kernels, per CPU level"
        var list: [KernelEntry] = [
            KernelEntry("gather", weightTypes: w, note: "f32 rows copied from the file; f16/bf16 widened per row") { try BLASGather($0) },
            KernelEntry("linear", weightTypes: w,
                        note: "AVX-512 where present: 1-16 rows on few-row kernels, more rows with io weights on the panel kernel (f16 io weights read in place); else sgemm, sgemv for single rows; io (NN) and oi (NT); other f16/bf16 widened once; bias+activation epilogue") { try BLASLinear($0) },
            KernelEntry("matmul", weightTypes: w, note: "sgemm per batch entry; sgemv for single rows") { try BLASMatmul($0) },
            KernelEntry("attention", note: "fused per (batch, head), AVX-512 head kernel where present (else the C vector kernels' head loop), over the pool") { try BLASAttention($0) },
            KernelEntry("attention_cached", note: "fused, KV cache rows [n_past, n_past+T)") { try BLASAttentionCached($0) },
        ]
        list += ["add", "mul"].map { KernelEntry($0, weightTypes: w, note: "SIMD8") { try BLASBinary($0) } }
        list += ["scale", "gelu_erf", "gelu_tanh", "quick_gelu", "tanh", "relu"].map { KernelEntry($0, weightTypes: w, note: vector) { try BLASUnary($0) } }
        list += ["layer_norm", "l2_normalize", "softmax"].map { KernelEntry($0, weightTypes: w, note: vector) { try BLASRowwise($0) } }
        list.append(KernelEntry("permute", weightTypes: w, note: "SIMD8") { try BLASPermute($0) })
        // Plain block copies: the shared kernels are already what this backend would do.
        list += SharedKernels.dataMovement(weightTypes: w, note: "shared block-copy kernel")
        // Spatial operators (CLIP ResNet encoders).
        list.append(KernelEntry("conv2d", weightTypes: w, note: "im2col + sgemm (1x1 stride-1: sgemm on the input); bias+relu epilogue") { try BLASConv2d($0) })
        list.append(SharedKernels.avgPool2d(note: "shared kernel (memory-bound, small)"))
        return list
    }())

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
