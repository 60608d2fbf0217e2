import CCMFormat
import Engine
import KernelSupport

/// The reference backend: every operator of docs/OPS.md as plain Swift loops, accumulating in
/// `Double`. Slow by design and obviously correct; every other backend is tested against it, and
/// the executor falls back to it for operators another backend lacks.
public final class NaiveBackend: Backend {
    public let name = "naive"
    public let summary = "reference kernels: plain Swift loops, Double accumulation (slow; every op)"

    public init() {}

    /// Weight element types of float operands (widened to f32 once, at kernel creation).
    static let floatWeights: [DType] = [.f32, .f16, .bf16]

    public let capabilities: [OpCapability] = {
        var list: [OpCapability] = [
            OpCapability(op: "gather", weightTypes: floatWeights, note: "table widened per element read"),
            OpCapability(op: "linear", weightTypes: floatWeights, note: "io and oi layouts; f16/bf16 widened once"),
            OpCapability(op: "linear_i8", weightTypes: [.i8], note: "dequantized once (per_channel or block); x not quantized"),
            OpCapability(op: "matmul", weightTypes: floatWeights),
        ]
        for op in ["add", "mul", "scale", "gelu_erf", "gelu_tanh", "quick_gelu", "tanh", "relu",
                   "layer_norm", "l2_normalize", "softmax", "reshape", "permute", "slice", "concat", "expand"] {
            list.append(OpCapability(op: op, weightTypes: floatWeights))
        }
        list.append(OpCapability(op: "attention", note: "heads, causal, scale"))
        list.append(OpCapability(op: "attention_cached", note: "KV cache rows [n_past, n_past+T)"))
        // Spatial operators (CLIP ResNet encoders).
        list.append(OpCapability(op: "conv2d", weightTypes: floatWeights, note: "direct loops; bias, relu"))
        list.append(OpCapability(op: "conv2d_i8", weightTypes: [.i8], note: "dequantized once (per_channel or block); x not quantized"))
        list.append(OpCapability(op: "avg_pool2d", note: "square windows, no padding"))
        return list
    }()

    public func makeKernel(for request: KernelRequest) throws -> (any Kernel)? {
        switch request.node.op {
        case "gather": return try NaiveGather(request)
        case "linear": return try NaiveLinear(request)
        case "linear_i8": return try NaiveLinearI8(request)
        case "matmul": return try NaiveMatmul(request)
        case "add", "mul": return try NaiveBinary(request)
        case "scale", "gelu_erf", "gelu_tanh", "quick_gelu", "tanh", "relu": return try NaiveUnary(request)
        case "layer_norm", "l2_normalize", "softmax": return try NaiveRowwise(request)
        case "reshape": return try ReshapeKernel(request)
        case "permute": return try NaivePermute(request)
        case "slice": return try SliceKernel(request)
        case "concat": return try ConcatKernel(request)
        case "expand": return try ExpandKernel(request)
        case "attention": return try NaiveAttention(request)
        case "attention_cached": return try NaiveAttentionCached(request)
        case "conv2d": return try NaiveConv2d(request)
        case "conv2d_i8": return try NaiveConv2d(quantized: request)
        case "avg_pool2d": return try AvgPool2dKernel(request)
        default: return nil
        }
    }
}
