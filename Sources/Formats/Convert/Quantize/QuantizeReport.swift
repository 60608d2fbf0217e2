/// Reconstruction error of one quantized weight (`w` vs `dequant(q(w))`).
public struct WeightErrorStats: Sendable, Equatable {
    /// Output tensor name (the int8 copy).
    public var tensor: String
    /// Source float tensor name.
    public var source: String
    /// `[N, K]` of the int8 tensor.
    public var shape: [Int]
    /// max |w - dequant(q(w))|.
    public var maxAbsError: Double
    /// ‖w - dequant(q(w))‖₂ / ‖w‖₂ (0 for an all-zero weight).
    public var relativeRMSError: Double
    /// Cosine between the flattened w and dequant(q(w)).
    public var cosine: Double

    public init(tensor: String, source: String, shape: [Int], maxAbsError: Double, relativeRMSError: Double, cosine: Double) {
        self.tensor = tensor
        self.source = source
        self.shape = shape
        self.maxAbsError = maxAbsError
        self.relativeRMSError = relativeRMSError
        self.cosine = cosine
    }
}

/// What `Quantizer.quantize` did.
public struct QuantizeReport: Sendable {
    public var inputPath: String
    public var outputPath: String
    public var scheme: QuantizationScheme
    /// File sizes in bytes.
    public var inputBytes: Int
    public var outputBytes: Int
    /// `linear` nodes rewritten to `linear_i8` and `conv2d` nodes to `conv2d_i8`, by name.
    public var quantizedNodes: [String]
    /// `linear` nodes left in float because of `--keep` (or an unsupported weight type).
    public var keptNodes: [String]
    /// `gather` nodes whose table became int8 (`--quantize-embeddings`).
    public var quantizedEmbeddings: [String]
    /// Float tensors no longer used by any node, left out of the output.
    public var droppedTensors: [String]
    /// Per int8 tensor reconstruction errors.
    public var errors: [WeightErrorStats]

    /// outputBytes / inputBytes.
    public var sizeRatio: Double { inputBytes > 0 ? Double(outputBytes) / Double(inputBytes) : 0 }

    /// Weighted (by element count) mean of the relative RMS errors.
    public var meanRelativeRMSError: Double {
        let total = errors.reduce(0) { $0 + $1.shape.reduce(1, *) }
        guard total > 0 else { return 0 }
        return errors.reduce(0) { $0 + $1.relativeRMSError * Double($1.shape.reduce(1, *)) } / Double(total)
    }

    /// The worst relative RMS error of any tensor.
    public var worstRelativeRMSError: Double { errors.map(\.relativeRMSError).max() ?? 0 }
}
