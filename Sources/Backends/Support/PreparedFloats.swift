import CCMFormat
import Engine

/// A constant operand (a tensor of the model file) prepared once, at kernel creation, as `f32`.
///
/// `f32` tensors whose memory is 4-byte aligned are used in place (zero-copy, the weight is kept
/// alive); `f16` / `bf16` ones — and misaligned `f32` ones — are widened into memory this
/// object owns. Immutable after creation, so kernels on several threads may share it.
public final class PreparedFloats: @unchecked Sendable {
    /// Shape of the tensor.
    public let shape: Shape
    /// The `f32` elements, row-major.
    public let base: UnsafePointer<Float>
    private let owned: UnsafeMutablePointer<Float>?
    private let weight: WeightTensor?

    /// Element types `init(weight:)` accepts.
    public static let supportedTypes: [DType] = [.f32, .f16, .bf16]

    /// Prepares `weight`; `nil` when its element type is not a float type.
    /// - Parameter copy: always copy into owned memory (e.g. when the kernel will repack it).
    public init?(weight: WeightTensor, copy: Bool = false) {
        guard PreparedFloats.supportedTypes.contains(weight.dtype) else { return nil }
        let count = weight.shape.elementCount
        guard weight.bytes.count >= count * weight.dtype.size else { return nil }
        shape = weight.shape
        if weight.dtype == .f32, !copy, let raw = weight.bytes.baseAddress,
           Int(bitPattern: raw) % MemoryLayout<Float>.alignment == 0 {
            base = raw.assumingMemoryBound(to: Float.self)
            owned = nil
            self.weight = weight
            return
        }
        let values = weight.floatValues()
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        values.withUnsafeBufferPointer { src in
            if let s = src.baseAddress { buffer.update(from: s, count: count) }
        }
        owned = buffer
        base = UnsafePointer(buffer)
        self.weight = nil
    }

    /// Takes a copy of `values` (already `f32`), e.g. a transposed or dequantized weight.
    public init(values: [Float], shape: Shape) {
        precondition(values.count == shape.elementCount, "PreparedFloats: \(values.count) values for shape \(shape)")
        self.shape = shape
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(values.count, 1))
        values.withUnsafeBufferPointer { src in
            if let s = src.baseAddress { buffer.update(from: s, count: values.count) }
        }
        owned = buffer
        base = UnsafePointer(buffer)
        weight = nil
    }

    /// Number of elements.
    public var count: Int { shape.elementCount }

    /// Whether the elements live in memory this object allocated (not the model file).
    public var isCopy: Bool { owned != nil }

    deinit { owned?.deallocate() }
}

/// A float input of one call: where its elements are and its shape.
public struct FloatInput {
    public let pointer: UnsafePointer<Float>
    public let shape: Shape

    @inlinable public init(pointer: UnsafePointer<Float>, shape: Shape) {
        self.pointer = pointer
        self.shape = shape
    }

    @inlinable public var count: Int { shape.elementCount }
}

/// A writable `f32` operand of one call (a state such as the KV cache).
public struct MutableFloats {
    public let floats: UnsafeMutablePointer<Float>
    public let shape: Shape

    @inlinable public init(floats: UnsafeMutablePointer<Float>, shape: Shape) {
        self.floats = floats
        self.shape = shape
    }
}

/// The float inputs of a node: constants prepared once, the others taken from each call's views.
///
/// Build with `FloatOperands(request, floatInputs:)`; it returns `nil` when an input has an
/// element type the kernels cannot read (so the backend reports "unsupported" and the executor
/// falls back), never crashes.
public struct FloatOperands: Sendable {
    /// Prepared constants by input index (`nil`: taken from the call's views).
    public let prepared: [PreparedFloats?]
    public let label: NodeLabel

    /// - Parameter skipping: input indices that do not hold floats (token ids, int8 weights).
    public init?(_ request: KernelRequest, skipping: [Int] = []) {
        label = NodeLabel(request.node)
        var prepared = [PreparedFloats?](repeating: nil, count: request.node.inputs.count)
        for i in 0..<request.node.inputs.count where request.hasInput(i) && !skipping.contains(i) {
            if i < request.constants.count, let w = request.constants[i] {
                guard let p = PreparedFloats(weight: w) else { return nil }
                prepared[i] = p
            } else if i < request.inputTypes.count, let t = request.inputTypes[i], t != .f32 {
                return nil
            }
        }
        self.prepared = prepared
    }

    /// Input `index` of this call, as `f32`. Throws when the view is missing or not `f32`.
    @inlinable public func input(_ index: Int, _ inputs: [TensorView]) throws -> FloatInput {
        if index < prepared.count, let p = prepared[index] {
            return FloatInput(pointer: p.base, shape: p.shape)
        }
        guard index < inputs.count else { throw label.error("input \(index) was not passed to the kernel") }
        let view = inputs[index]
        guard view.dtype == .f32 else { throw label.error("input \(index) is \(view.dtype), expected f32") }
        return FloatInput(pointer: UnsafePointer(view.floats), shape: view.shape)
    }

    /// Input `index` when it must be writable (a state such as a KV cache): never a constant.
    @inlinable public func mutableInput(_ index: Int, _ inputs: [TensorView]) throws -> MutableFloats {
        guard index >= prepared.count || prepared[index] == nil else {
            throw label.error("input \(index) must be a state buffer, not a tensor of the model file")
        }
        guard index < inputs.count else { throw label.error("input \(index) was not passed to the kernel") }
        let view = inputs[index]
        guard view.dtype == .f32 else { throw label.error("input \(index) is \(view.dtype), expected f32") }
        guard let floats = view.mutableFloats else { throw label.error("input \(index) is read-only (a tensor of the model file), but the op writes it") }
        return MutableFloats(floats: floats, shape: view.shape)
    }

    /// The single `f32` output view, checked against the shape the kernel computes.
    @inlinable public func output(_ outputs: [TensorView], expected: Shape) throws -> UnsafeMutablePointer<Float> {
        guard let out = outputs.first else { throw label.error("no output view was passed to the kernel") }
        guard out.dtype == .f32 else { throw label.error("output is \(out.dtype), expected f32") }
        guard out.shape == expected else {
            throw label.error("output view has shape \(out.shape) but the inputs give \(expected)")
        }
        guard let floats = out.mutableFloats else { throw label.error("output view is read-only") }
        return floats
    }
}
