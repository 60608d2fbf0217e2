import CCMFormat

/// Memory of one tensor as a kernel sees it during one call: contiguous, row-major.
/// Activations are always `f32`; weight inputs keep the element type they have in the file.
/// A view is valid only for the duration of the kernel call it was passed to.
///
/// Every view reads through `data` (read-only). Only views of memory the session owns —
/// activations, outputs, states such as the KV cache — also carry `mutableData`; a weight's view
/// is built from the read-only memory map and has none, so no kernel can write a weight: the
/// mapped file is never typed mutable anywhere.
public struct TensorView: @unchecked Sendable {
    /// The elements, read-only.
    public let data: UnsafeRawPointer
    /// The same memory, writable; nil for a read-only view (a tensor of the model file).
    public let mutableData: UnsafeMutableRawPointer?
    public var shape: Shape
    public var dtype: DType

    /// A writable view (activations, outputs, states).
    public init(data: UnsafeMutableRawPointer, shape: Shape, dtype: DType) {
        self.data = UnsafeRawPointer(data)
        mutableData = data
        self.shape = shape
        self.dtype = dtype
    }

    /// A read-only view (a weight in the memory map).
    public init(readOnly data: UnsafeRawPointer, shape: Shape, dtype: DType) {
        self.data = data
        mutableData = nil
        self.shape = shape
        self.dtype = dtype
    }

    /// The elements as `Float`, read-only (only for `f32` views).
    @inlinable public var floats: UnsafePointer<Float> {
        data.assumingMemoryBound(to: Float.self)
    }

    /// The elements as writable `Float`s (only for `f32` views); nil for a read-only view.
    @inlinable public var mutableFloats: UnsafeMutablePointer<Float>? {
        mutableData?.assumingMemoryBound(to: Float.self)
    }

    /// The elements as `Int32` (only for `i32` views, e.g. token ids).
    @inlinable public var int32s: UnsafePointer<Int32> {
        data.assumingMemoryBound(to: Int32.self)
    }

    public var elementCount: Int { shape.elementCount }
    public var byteCount: Int { shape.elementCount * dtype.size }
}
