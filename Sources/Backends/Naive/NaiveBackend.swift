import CCMFormat
import Engine
import KernelSupport

/// The reference backend: every operator of docs/OPS.md as plain Swift loops, accumulating in
/// `Double`. Slow by design and obviously correct; every other backend is tested against it, and
/// it closes every backend chain (`BackendChain`): it runs what the others decline.
public final class NaiveBackend: Backend {
    public let name = "naive"
    public let summary = "reference kernels: plain Swift loops, Double accumulation (slow; every op)"

    public init() {}

    /// Weight element types of float operands (widened to f32 once, at kernel creation).
    static let floatWeights: [DType] = [.f32, .f16, .bf16]

    /// Every operator: the capability list `clipcapctl backends` prints is this table.
    public let kernels = KernelTable({
        let w = floatWeights
        var list: [KernelEntry] = [
            KernelEntry("gather", weightTypes: w, note: "table widened per element read") { try NaiveGather($0) },
            KernelEntry("linear", weightTypes: w, note: "io and oi layouts; f16/bf16 widened once") { try NaiveLinear($0) },
            KernelEntry("linear_i8", weightTypes: [.i8], note: "dequantized once (per_channel or block); x not quantized") { try NaiveLinearI8($0) },
            KernelEntry("matmul", weightTypes: w) { try NaiveMatmul($0) },
        ]
        list += ["add", "mul"].map { KernelEntry($0, weightTypes: w) { try NaiveBinary($0) } }
        list += ["scale", "gelu_erf", "gelu_tanh", "quick_gelu", "tanh", "relu"].map { KernelEntry($0, weightTypes: w) { try NaiveUnary($0) } }
        list += ["layer_norm", "l2_normalize", "softmax"].map { KernelEntry($0, weightTypes: w) { try NaiveRowwise($0) } }
        list.append(KernelEntry("permute", weightTypes: w) { try NaivePermute($0) })
        list += SharedKernels.dataMovement(weightTypes: w, note: "")
        list += [
            KernelEntry("attention", note: "heads, causal, scale") { try NaiveAttention($0) },
            KernelEntry("attention_cached", note: "KV cache rows [n_past, n_past+T)") { try NaiveAttentionCached($0) },
            // Spatial operators (CLIP ResNet encoders).
            KernelEntry("conv2d", weightTypes: w, note: "direct loops; bias, relu") { try NaiveConv2d($0) },
            KernelEntry("conv2d_i8", weightTypes: [.i8], note: "dequantized once (per_channel or block); x not quantized") { try NaiveConv2d(quantized: $0) },
            SharedKernels.avgPool2d(note: "square windows, no padding"),
        ]
        return list
    }())
}
