// A tensor waiting to be written: its description and a closure that produces its bytes.

/// A tensor to write. `provider` is called exactly once, when the writer reaches this
/// tensor, so a large model is streamed one tensor at a time.
public struct TensorSource: Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public var layout: TensorLayout
    /// How the bytes are stored; the writer compresses `zstd` / `shuffledZstd` tensors itself.
    public var encoding: TensorEncoding
    public var quantization: QuantizationInfo?
    /// Produces the decoded, little-endian, row-major bytes: exactly elements × dtype size.
    public var provider: @Sendable () throws -> [UInt8]

    public init(name: String, dtype: DType, shape: [Int], layout: TensorLayout = .rowMajor,
                encoding: TensorEncoding = .raw, quantization: QuantizationInfo? = nil,
                provider: @escaping @Sendable () throws -> [UInt8]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.layout = layout
        self.encoding = encoding
        self.quantization = quantization
        self.provider = provider
    }

    /// A tensor whose bytes are already in memory.
    public init(name: String, dtype: DType, shape: [Int], layout: TensorLayout = .rowMajor,
                encoding: TensorEncoding = .raw, quantization: QuantizationInfo? = nil, bytes: [UInt8]) {
        self.init(name: name, dtype: dtype, shape: shape, layout: layout, encoding: encoding,
                  quantization: quantization, provider: { bytes })
    }

    /// An `f32` tensor from `Float` values (stored little-endian).
    public init(name: String, shape: [Int], floats: [Float], encoding: TensorEncoding = .raw) {
        let bytes = floats.withUnsafeBytes { Array($0) }
        self.init(name: name, dtype: .f32, shape: shape, encoding: encoding, bytes: bytes)
    }
}
