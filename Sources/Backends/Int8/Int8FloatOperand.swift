import CCMFormat
import Engine
import KernelSupport

/// A small float constant (scales, bias) prepared once at kernel creation: `f32` tensors whose
/// memory is 4-byte aligned are read in place from the model file (so an int8 model keeps
/// following the file), anything else (`f16`, `bf16`, misaligned) is widened into owned memory.
final class Int8FloatOperand: @unchecked Sendable {
    let count: Int
    let base: UnsafePointer<Float>
    private let owned: UnsafeMutablePointer<Float>?
    private let weight: WeightTensor

    /// `nil` when `weight` is not a float tensor or holds fewer bytes than its shape needs.
    init?(_ weight: WeightTensor) {
        guard [.f32, .f16, .bf16].contains(weight.dtype) else { return nil }
        let n = weight.shape.elementCount
        guard weight.bytes.count >= n * weight.dtype.size else { return nil }
        count = n
        self.weight = weight
        if weight.dtype == .f32, let raw = weight.bytes.baseAddress,
           Int(bitPattern: raw) % MemoryLayout<Float>.alignment == 0 {
            base = raw.assumingMemoryBound(to: Float.self)
            owned = nil
        } else {
            let values = weight.floatValues()
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
            values.withUnsafeBufferPointer { src in
                if let s = src.baseAddress { buffer.update(from: s, count: n) }
            }
            owned = buffer
            base = UnsafePointer(buffer)
        }
    }

    deinit { owned?.deallocate() }
}
