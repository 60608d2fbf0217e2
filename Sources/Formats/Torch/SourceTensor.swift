import CCMFormat

/// One tensor read from a checkpoint. Only its description is held in memory: the elements
/// stay in the memory-mapped file until `bytes()` copies them out.
public struct SourceTensor: Sendable {
    /// Dotted name, as `state_dict()` would give it (`visual.conv1.weight`).
    public let name: String
    /// Element type of `bytes()`. float64 checkpoints are narrowed to `f32`, int16 widened to
    /// `i32`, bool read as `u8`; fp16/bf16 are reported as stored (not widened).
    public let dtype: DType
    /// Size of each dimension; `[]` for a scalar.
    public let shape: [Int]

    let source: TensorSource

    /// Number of elements.
    public var elementCount: Int { shape.reduce(1, *) }

    /// Size of `bytes()` in bytes.
    public var byteCount: Int { elementCount * dtype.size }

    /// The tensor's elements as contiguous row-major little-endian bytes of `dtype`.
    /// Views with storage offsets or non-contiguous strides are materialised here; each
    /// call reads the file again, so callers should call it once per tensor.
    public func bytes() throws -> [UInt8] {
        try source.read(name: name)
    }
}

/// Where a tensor's elements live and how to lay them out.
struct TensorSource: Sendable {
    let file: MappedFile
    /// Byte range of the whole storage (zip entry or safetensors slice) in the file.
    let storage: Range<Int>
    let element: StoredElement
    /// Offset and strides in elements of the storage.
    let offset: Int
    let shape: [Int]
    let strides: [Int]
    let bigEndian: Bool

    func read(name: String) throws -> [UInt8] {
        var bytes = try file.gather(storage: storage, elementSize: element.size, offset: offset,
                                    shape: shape, strides: strides, what: name)
        if bigEndian { bytes = byteSwapped(bytes, elementSize: element.size) }
        if element.needsConversion { bytes = element.convert(bytes) }
        return bytes
    }
}

/// Row-major strides (in elements) of a contiguous tensor of `shape`; nil on overflow.
func contiguousStrides(_ shape: [Int]) -> [Int]? {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for dim in shape.indices.reversed() {
        strides[dim] = running
        let (next, overflow) = running.multipliedReportingOverflow(by: max(shape[dim], 1))
        guard !overflow else { return nil }
        running = next
    }
    return strides
}
