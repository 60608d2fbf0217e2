import CCMFormat
import CVectorKernels

/// A model-file tensor used as a constant operand (a weight), handed to backends when they
/// build kernels so they can prepare it once (pack, convert, keep a pointer).
///
/// `bytes` points into the read-only memory map (raw tensors) or into memory the model owns
/// (decompressed zstd tensors); it stays valid as long as the loaded model lives. Backends must
/// not write to it.
public final class WeightTensor: @unchecked Sendable {
    public let name: String
    public let dtype: DType
    public let shape: Shape
    public let bytes: UnsafeRawBufferPointer
    /// For int8 weights: how to turn them back into real numbers, and the scales themselves.
    public let quantization: QuantizationInfo?
    public let scales: WeightTensor?
    /// Keeps the memory behind `bytes` alive (the mapped file or a decompressed buffer).
    private let owner: AnyObject?

    public init(name: String, dtype: DType, shape: Shape, bytes: UnsafeRawBufferPointer,
                quantization: QuantizationInfo? = nil, scales: WeightTensor? = nil, owner: AnyObject?) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
        self.quantization = quantization
        self.scales = scales
        self.owner = owner
    }

    /// A read-only view for passing the weight as a kernel input.
    public var view: TensorView {
        TensorView(readOnly: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!, shape: shape, dtype: dtype)
    }

    /// The elements widened to `Float` (f32, f16, bf16, i8 with scales, i32). Allocates: use at load
    /// time only, never per call.
    public func floatValues() -> [Float] {
        let n = shape.elementCount
        var out = [Float](repeating: 0, count: n)
        switch dtype {
        case .f32:
            out.withUnsafeMutableBytes { dst in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<(n * 4)])) }
        case .f16:
            // In C: without F16C (the package has no target CPU) Float(Float16) is a call per element.
            out.withUnsafeMutableBufferPointer { cvk_f16_to_f32(bytes.baseAddress, $0.baseAddress, Int64(n)) }
        case .bf16:
            for i in 0..<n {
                let bits = UInt32(bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16
                out[i] = Float(bitPattern: bits)
            }
        case .i32:
            for i in 0..<n { out[i] = Float(bytes.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)) }
        case .i64:
            for i in 0..<n { out[i] = Float(bytes.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)) }
        case .u8:
            for i in 0..<n { out[i] = Float(bytes[i]) }
        case .i8:
            let scaleValues = scales?.floatValues() ?? []
            let q = quantization
            let last = shape.last
            for i in 0..<n {
                let v = Float(Int8(bitPattern: bytes[i]))
                var s: Float = 1
                if let q, !scaleValues.isEmpty {
                    if q.scheme == "block", q.blockSize > 0 {
                        let row = i / last, col = i % last
                        let blocksPerRow = (last + q.blockSize - 1) / q.blockSize
                        s = scaleValues[row * blocksPerRow + col / q.blockSize]
                    } else {
                        // per_channel along `axis`
                        var inner = 1
                        var a = shape.rank - 1
                        while a > q.axis { inner *= shape[a]; a -= 1 }
                        s = scaleValues[(i / inner) % shape[q.axis]]
                    }
                }
                out[i] = v * s
            }
        }
        return out
    }
}
