import CCMFormat

/// Folds an inference-mode `nn.BatchNorm2d` into the bias-free convolution before it, at
/// convert time: `bn(conv(x)) = conv'(x) + b'` with, per output channel `o`,
/// `s = gamma[o] / sqrt(running_var[o] + eps)`, `W'[o] = s · W[o]`, `b'[o] = beta[o] - s · running_mean[o]`.
/// Computed in `Double` from the stored values and rounded once to `f32`; the error this adds
/// is measured in `Tests/ConverterTests/BatchNormFoldingTests.swift` (docs/CONVERT.md).
enum BatchNormFolding {
    /// PyTorch's `nn.BatchNorm2d` default, which CLIP keeps.
    static let eps = 1e-5

    /// The batch norm's four tensors.
    struct Norm {
        var gamma: InputTensor
        var beta: InputTensor
        var mean: InputTensor
        var variance: InputTensor
    }

    /// Folded weight (same shape as `conv`, `f32`) and bias `[out_channels]` (`f32`), computed
    /// when the writer asks for their bytes.
    static func fold(conv: InputTensor, norm: Norm, eps: Double = eps) -> (weight: InputTensor, bias: InputTensor) {
        let channels = conv.shape.first ?? 0
        let weight = InputTensor(name: conv.name, dtype: .f32, shape: conv.shape) {
            let (scale, _) = try factors(norm, eps: eps)
            let w = try floats(conv)
            let perChannel = channels > 0 ? w.count / channels : 0
            var out = [Float](repeating: 0, count: w.count)
            for o in 0..<channels {
                for i in 0..<perChannel { out[o * perChannel + i] = Float(Double(w[o * perChannel + i]) * scale[o]) }
            }
            return ElementConversion.encodeF32(out)
        }
        let bias = InputTensor(name: norm.beta.name, dtype: .f32, shape: [channels]) {
            let (_, shift) = try factors(norm, eps: eps)
            return ElementConversion.encodeF32(shift.map { Float($0) })
        }
        return (weight, bias)
    }

    /// Per-channel scale `s` and shift `beta - s·mean`.
    static func factors(_ norm: Norm, eps: Double) throws -> (scale: [Double], shift: [Double]) {
        let gamma = try floats(norm.gamma), beta = try floats(norm.beta)
        let mean = try floats(norm.mean), variance = try floats(norm.variance)
        var scale = [Double](repeating: 0, count: gamma.count), shift = scale
        for o in 0..<gamma.count {
            guard variance[o] >= 0, variance[o].isFinite else {
                throw ConvertError.unreadableCheckpoint(role: "clip", path: norm.variance.name,
                    reason: "running_var[\(o)] is \(variance[o]); a batch norm's variance must be finite and >= 0 (a damaged or training-mode checkpoint?)")
            }
            scale[o] = Double(gamma[o]) / (Double(variance[o]) + eps).squareRoot()
            shift[o] = Double(beta[o]) - scale[o] * Double(mean[o])
        }
        return (scale, shift)
    }

    /// A source tensor's elements as `f32`.
    static func floats(_ tensor: InputTensor) throws -> [Float] {
        let raw = try tensor.load()
        guard raw.count == tensor.count * tensor.dtype.size else {
            throw ConvertError.unreadableCheckpoint(role: "clip", path: tensor.name,
                reason: "tensor \(tensor.name) has \(raw.count) bytes, its shape \(tensor.shape) needs \(tensor.count * tensor.dtype.size)")
        }
        switch tensor.dtype {
        case .f32: return ElementConversion.decodeF32(raw)
        case .f16: return ElementConversion.decodeF16(raw)
        case .bf16: return ElementConversion.decodeBF16(raw)
        default: throw ConvertError.unsupportedDType(name: tensor.name, dtype: tensor.dtype.description, path: tensor.name)
        }
    }
}
