import CCMFormat
import Engine
import KernelSupport

/// The reference dequantization of an int8 weight `[N, K]` (input 1) with its scales (input 2):
/// `per_channel` scales `[N]` or `block` scales `[N, ceil(K/block)]` (docs/INT8.md). Shared by
/// `linear_i8` and `conv2d_i8`.
enum Int8Dequantization {
    static func weights(_ request: KernelRequest, label: NodeLabel, weight w: WeightTensor) throws -> [Float] {
        let n = w.shape[0], k = w.shape.elementCount / max(w.shape[0], 1)
        guard let scales = request.constants.count > 2 ? request.constants[2] : nil,
              let scaleValues = PreparedFloats(weight: scales) else {
            throw label.error("scales (input 2) must be an f32/f16/bf16 tensor of the model file")
        }
        let scheme = request.string("scheme") ?? "per_channel"
        var dequantized = [Float](repeating: 0, count: n * k)
        switch scheme {
        case "per_channel":
            guard scaleValues.shape.elementCount == n else {
                throw label.error("per_channel scales have shape \(scaleValues.shape), expected [\(n)]")
            }
            for r in 0..<n {
                for c in 0..<k {
                    dequantized[r * k + c] = Float(Int8(bitPattern: w.bytes[r * k + c])) * scaleValues.base[r]
                }
            }
        case "block":
            guard let block = request.int("block"), block >= 1 else {
                throw label.error("scheme 'block' needs an integer 'block' >= 1")
            }
            let blocks = (k + block - 1) / block
            guard scaleValues.shape.elementCount == n * blocks else {
                throw label.error("block scales have shape \(scaleValues.shape), expected [\(n), \(blocks)]")
            }
            for r in 0..<n {
                for c in 0..<k {
                    dequantized[r * k + c] = Float(Int8(bitPattern: w.bytes[r * k + c])) * scaleValues.base[r * blocks + c / block]
                }
            }
        default:
            throw label.error("scheme must be 'per_channel' or 'block', got '\(scheme)'")
        }
        return dequantized
    }
}
