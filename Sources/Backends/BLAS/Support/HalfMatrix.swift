import Engine
import KernelSupport

/// An `f16` weight read in place from the model file by the panel kernel (never widened).
final class HalfMatrix: @unchecked Sendable {
    let base: UnsafeRawPointer
    private let tensor: WeightTensor  // keeps the mapping alive

    init?(_ tensor: WeightTensor) {
        guard tensor.dtype == .f16, let raw = tensor.bytes.baseAddress,
              tensor.bytes.count >= tensor.shape.elementCount * 2,
              Int(bitPattern: raw) % 2 == 0 else { return nil }
        base = raw
        self.tensor = tensor
    }
}
