// One row of the tensor table: what a tensor is and where its bytes are.

/// A tensor as described by the file's tensor table. Obtain entries from `ModelFile.tensors`
/// or `ModelFile.tensor(named:)`, and their bytes from `ModelFile.bytes(of:)`.
public struct TensorEntry: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    /// Dimensions, outermost first; `[]` is a scalar (one element).
    public let shape: [Int]
    public let layout: TensorLayout
    public let encoding: TensorEncoding
    /// Absolute file offset of the stored bytes (a multiple of 64).
    public let offset: Int
    /// Bytes in the file (compressed size for zstd encodings).
    public let storedLength: Int
    /// Bytes once decoded: element count × dtype size.
    public let byteCount: Int
    /// CRC32C of the stored bytes.
    public let checksum: UInt32
    /// Scales and scheme of an int8 tensor.
    public let quantization: QuantizationInfo?

    /// Number of elements (1 for a scalar).
    public var elementCount: Int { byteCount / dtype.size }

    /// Position in the tensor table (identifies the entry within its file).
    let index: Int

    init(name: String, dtype: DType, shape: [Int], layout: TensorLayout, encoding: TensorEncoding,
         offset: Int, storedLength: Int, byteCount: Int, checksum: UInt32,
         quantization: QuantizationInfo?, index: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.layout = layout
        self.encoding = encoding
        self.offset = offset
        self.storedLength = storedLength
        self.byteCount = byteCount
        self.checksum = checksum
        self.quantization = quantization
        self.index = index
    }
}

/// Overflow-checked element count and byte size of a shape; nil reason on success.
enum ShapeMath {
    /// Returns (elements, bytes), or a reason the shape is absurd.
    static func sizes(of dims: [UInt64], dtype: DType) -> Result<(Int, Int), ShapeProblem> {
        guard dims.count <= FormatLimits.maxRank else {
            return .failure(ShapeProblem("rank \(dims.count) exceeds \(FormatLimits.maxRank)"))
        }
        var elements = 1
        for (axis, d) in dims.enumerated() {
            guard d <= FormatLimits.maxDimension else {
                return .failure(ShapeProblem("dimension \(axis) is \(d), above \(FormatLimits.maxDimension)"))
            }
            let (product, overflow) = elements.multipliedReportingOverflow(by: Int(d))
            guard !overflow else { return .failure(ShapeProblem("element count overflows at dimension \(axis)")) }
            elements = product
        }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.size)
        guard !overflow else { return .failure(ShapeProblem("byte size overflows")) }
        return .success((elements, bytes))
    }
}

struct ShapeProblem: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
