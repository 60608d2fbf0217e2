/// Why `Quantizer.quantize` failed. Every message names the file and what to do.
public enum QuantizeError: Error, CustomStringConvertible, Sendable {
    /// The input could not be opened as a `.ccm` model.
    case cannotOpen(path: String, reason: String)
    /// Input and output name the same file.
    case sameFile(path: String)
    /// A weight a `linear` node uses cannot be quantized (shape, type, or unreadable bytes).
    case badWeight(path: String, tensor: String, reason: String)
    /// Nothing to quantize: no `linear` node has a float weight (or everything was kept).
    case nothingToQuantize(path: String)
    /// Writing the output failed; no output file was left behind.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return reason.hasPrefix(path) ? "cannot open the model: \(reason)" : "\(path): cannot open the model: \(reason)"
        case .sameFile(let path):
            return "\(path): the output would overwrite the input; choose another output path"
        case .badWeight(let path, let tensor, let reason):
            return "\(path): weight '\(tensor)' cannot be quantized: \(reason); keep that layer in float with --keep '\(tensor)'"
        case .nothingToQuantize(let path):
            return "\(path): no linear layer with a float weight is left to quantize (already int8, or every layer matched --keep)"
        case .writeFailed(let path, let reason):
            return "\(path): writing the quantized model failed: \(reason)"
        }
    }
}
