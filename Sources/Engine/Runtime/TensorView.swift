import CCMFormat

/// Memory of one tensor as a kernel sees it during one call: contiguous, row-major.
/// Activations are always `f32`; weight inputs keep the element type they have in the file.
/// A view is valid only for the duration of the kernel call it was passed to.
public struct TensorView: @unchecked Sendable {
    public var data: UnsafeMutableRawPointer
    public var shape: Shape
    public var dtype: DType

    public init(data: UnsafeMutableRawPointer, shape: Shape, dtype: DType) {
        self.data = data
        self.shape = shape
        self.dtype = dtype
    }

    /// The elements as `Float` (only for `f32` views).
    @inlinable public var floats: UnsafeMutablePointer<Float> {
        data.assumingMemoryBound(to: Float.self)
    }

    /// The elements as `Int32` (only for `i32` views, e.g. token ids).
    @inlinable public var int32s: UnsafeMutablePointer<Int32> {
        data.assumingMemoryBound(to: Int32.self)
    }

    public var elementCount: Int { shape.elementCount }
    public var byteCount: Int { shape.elementCount * dtype.size }
}
