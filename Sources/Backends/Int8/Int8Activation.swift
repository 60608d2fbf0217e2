import CInt8Kernels
import Engine

/// Maps a node's `activation` attribute (docs/OPS.md) to the C epilogue's code.
enum Int8Activation {
    /// The C code for `activation`, or a `KernelError` naming the node for unknown values.
    static func code(_ request: KernelRequest) throws -> Int32 {
        guard let attr = request.node.attrs["activation"] else { return Int32(CI8_ACT_NONE.rawValue) }
        guard case .string(let name) = attr else {
            throw KernelError("node '\(request.node.name)' (\(request.node.op)): activation must be a string, got \(attr)")
        }
        switch name {
        case "none": return Int32(CI8_ACT_NONE.rawValue)
        case "gelu_tanh": return Int32(CI8_ACT_GELU_TANH.rawValue)
        case "gelu_erf": return Int32(CI8_ACT_GELU_ERF.rawValue)
        case "quick_gelu": return Int32(CI8_ACT_QUICK_GELU.rawValue)
        case "tanh": return Int32(CI8_ACT_TANH.rawValue)
        case "relu": return Int32(CI8_ACT_RELU.rawValue)
        default:
            throw KernelError("node '\(request.node.name)' (\(request.node.op)): activation '\(name)' is not one of none, gelu_tanh, gelu_erf, quick_gelu, tanh, relu")
        }
    }
}
