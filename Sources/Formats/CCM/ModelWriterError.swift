// Why writing a `.ccm` file failed. The target file is never left half-written.

/// Why `ModelWriter.write` failed. In every case no partial output remains and a file that
/// already existed under the target name is untouched.
public enum ModelWriterError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The output path names a directory.
    case outputIsDirectory(path: String)
    /// The folder that should hold the output does not exist.
    case folderMissing(path: String)
    /// The model cannot be represented (duplicate names, absurd shapes, bad quantization info...).
    case invalidModel(path: String, reason: String)
    /// A tensor's provider threw.
    case providerFailed(path: String, tensor: String, reason: String)
    /// A tensor's provider returned the wrong number of bytes.
    case wrongByteCount(path: String, tensor: String, expected: Int, actual: Int)
    /// zstd refused to compress a tensor.
    case compressionFailed(path: String, tensor: String, reason: String)
    /// A file-system call failed (disk full, permissions...).
    case ioFailed(path: String, operation: String, reason: String)
    /// The written file did not pass the reader's own validation (a writer bug; nothing was replaced).
    case selfCheckFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .outputIsDirectory(let p):
            return "\(p) is a directory; give a file path for the model (e.g. \(p)/model.ccm)"
        case .folderMissing(let p):
            return "\(p): the folder does not exist; create it first"
        case .invalidModel(let p, let reason):
            return "cannot write \(p): \(reason); fix the model being written"
        case .providerFailed(let p, let tensor, let reason):
            return "cannot write \(p): producing tensor '\(tensor)' failed (\(reason)); nothing was written"
        case .wrongByteCount(let p, let tensor, let expected, let actual):
            return "cannot write \(p): tensor '\(tensor)' produced \(actual) bytes, its shape and dtype need \(expected); nothing was written"
        case .compressionFailed(let p, let tensor, let reason):
            return "cannot write \(p): compressing tensor '\(tensor)' failed (\(reason)); try encoding raw"
        case .ioFailed(let p, let operation, let reason):
            return "cannot write \(p): \(operation) failed (\(reason)); check free space and permissions"
        case .selfCheckFailed(let p, let reason):
            return "cannot write \(p): the written file fails validation (\(reason)); this is a clipcap bug, please report it"
        }
    }
}
