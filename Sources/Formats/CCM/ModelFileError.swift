// Every way opening or verifying a `.ccm` file can fail, one case per corruption class.
// Messages name the file, say what is wrong and what to do about it.

/// Why a `.ccm` file could not be opened, or what `verify` found wrong with it.
public enum ModelFileError: Error, CustomStringConvertible, Equatable, Sendable {
    /// No file at this path.
    case notFound(path: String)
    /// The path is a directory.
    case isDirectory(path: String)
    /// The file exists but could not be opened or mapped (permissions, I/O error, not a regular file).
    case cannotOpen(path: String, reason: String)
    /// Zero bytes long.
    case emptyFile(path: String)
    /// A git-lfs pointer text file stands where the model should be.
    case gitLFSPointer(path: String)
    /// An HTML page (a saved web page or an error page) stands where the model should be.
    case htmlPage(path: String)
    /// A PyTorch checkpoint (zip archive or bare pickle).
    case pytorchCheckpoint(path: String)
    /// Another known model format (GGUF, safetensors).
    case foreignFormat(path: String, format: String)
    /// Does not start with the `.ccm` magic.
    case badMagic(path: String)
    /// A format version this reader does not know.
    case unsupportedVersion(path: String, found: UInt32, supported: UInt32)
    /// The byte-order mark is not little-endian.
    case wrongByteOrder(path: String)
    /// The file is shorter than its header says (interrupted download or copy).
    case truncated(path: String, expected: Int, actual: Int)
    /// The file is longer than its header says.
    case trailingBytes(path: String, expected: Int, actual: Int)
    /// The CRC32C of the header, the section table or a section does not match.
    case checksumMismatch(path: String, region: String)
    /// The CRC32C of a tensor's stored bytes does not match.
    case tensorChecksumMismatch(path: String, tensor: String, expected: UInt32, actual: UInt32)
    /// An offset or length points outside the file or its section.
    case outOfBounds(path: String, what: String)
    /// A tensor does not start on a 64-byte boundary.
    case misaligned(path: String, tensor: String, offset: Int)
    /// Two tensors, or two sections, share bytes.
    case overlap(path: String, first: String, second: String)
    /// Bytes in the tensor data section belong to no tensor, or padding is not zero.
    case unaccountedBytes(path: String, what: String)
    /// Rank above 8, dimensions too large, element or byte counts that overflow or disagree.
    case absurdDimensions(path: String, tensor: String, reason: String)
    /// Two tensors, metadata keys or graphs with the same name.
    case duplicateName(path: String, kind: String, name: String)
    /// A count or size above the reader's caps.
    case limitExceeded(path: String, what: String, limit: Int)
    /// A section does not decode: bad UTF-8, unknown type tag, bytes missing or left over.
    case malformed(path: String, section: String, reason: String)
    /// A required section is absent, or a known section appears twice.
    case badSectionTable(path: String, reason: String)
    /// A section this reader does not know, marked required.
    case unsupportedSection(path: String, kind: UInt32)
    /// A dtype, layout or encoding code this reader does not know.
    case unknownCode(path: String, tensor: String, field: String, code: UInt8)
    /// Quantization info that does not fit its tensor or its scales tensor.
    case badQuantization(path: String, tensor: String, reason: String)
    /// The graphs section is not valid graph JSON, or graph names collide.
    case invalidGraphs(path: String, reason: String)
    /// A compressed tensor does not decode to exactly its declared size.
    case decodeFailed(path: String, tensor: String, reason: String)
    /// `bytes(of:)` was given an entry that is not in this file.
    case unknownTensor(path: String, name: String)

    private static let reconvert = "re-run `clipcapctl convert`, or download the file again"

    public var description: String {
        switch self {
        case .notFound(let p):
            return "\(p): no such file; check the path"
        case .isDirectory(let p):
            return "\(p) is a directory, not a model file; pass the .ccm file inside it"
        case .cannotOpen(let p, let reason):
            return "\(p): cannot open (\(reason)); check that it is a readable regular file"
        case .emptyFile(let p):
            return "\(p) is empty (0 bytes); the download or conversion did not finish: \(Self.reconvert)"
        case .gitLFSPointer(let p):
            return "\(p) is a git-lfs pointer, not a model: run `git lfs pull`"
        case .htmlPage(let p):
            return "\(p) is an HTML page, not a model: a web page was saved instead of the file; download the file itself (the raw/resolve link)"
        case .pytorchCheckpoint(let p):
            return "\(p) is a PyTorch .pt checkpoint, not a .ccm model: convert it with `clipcapctl convert`"
        case .foreignFormat(let p, let format):
            return "\(p) is a \(format) file, not a .ccm model: convert the original checkpoint with `clipcapctl convert`"
        case .badMagic(let p):
            return "\(p) is not a .ccm model file (bad magic bytes); produce one with `clipcapctl convert`"
        case .unsupportedVersion(let p, let found, let supported):
            if found > supported {
                return "\(p) uses .ccm format version \(found), this clipcap reads up to version \(supported): update clipcap"
            }
            return "\(p) declares .ccm format version \(found), which does not exist: the file is corrupt; \(Self.reconvert)"
        case .wrongByteOrder(let p):
            return "\(p) is not little-endian (bad byte-order mark); it was written by a broken tool: \(Self.reconvert)"
        case .truncated(let p, let expected, let actual):
            return "\(p) is truncated: \(actual) bytes, the header says \(expected); the download or copy was interrupted: fetch it again"
        case .trailingBytes(let p, let expected, let actual):
            return "\(p) has \(actual - expected) unexpected bytes after its end (\(actual) bytes, header says \(expected)); the file was altered: \(Self.reconvert)"
        case .checksumMismatch(let p, let region):
            return "\(p): checksum mismatch in the \(region); the file is corrupt: \(Self.reconvert)"
        case .tensorChecksumMismatch(let p, let tensor, let expected, let actual):
            return "\(p): tensor '\(tensor)' is corrupt (CRC32C \(hex(actual)), expected \(hex(expected))): \(Self.reconvert)"
        case .outOfBounds(let p, let what):
            return "\(p): \(what) lies outside the file; the file is corrupt: \(Self.reconvert)"
        case .misaligned(let p, let tensor, let offset):
            return "\(p): tensor '\(tensor)' starts at offset \(offset), not a multiple of 64; the file is corrupt: \(Self.reconvert)"
        case .overlap(let p, let first, let second):
            return "\(p): \(first) and \(second) overlap; the file is corrupt or crafted: \(Self.reconvert)"
        case .unaccountedBytes(let p, let what):
            return "\(p): \(what); the file is corrupt or crafted: \(Self.reconvert)"
        case .absurdDimensions(let p, let tensor, let reason):
            return "\(p): tensor '\(tensor)' has absurd dimensions (\(reason)); the file is corrupt or crafted: \(Self.reconvert)"
        case .duplicateName(let p, let kind, let name):
            return "\(p): duplicate \(kind) '\(name)'; the file is corrupt: \(Self.reconvert)"
        case .limitExceeded(let p, let what, let limit):
            return "\(p): \(what) exceeds the limit of \(limit); the file is corrupt or crafted: \(Self.reconvert)"
        case .malformed(let p, let section, let reason):
            return "\(p): malformed \(section) (\(reason)); the file is corrupt: \(Self.reconvert)"
        case .badSectionTable(let p, let reason):
            return "\(p): bad section table (\(reason)); the file is corrupt: \(Self.reconvert)"
        case .unsupportedSection(let p, let kind):
            return "\(p) contains a required section of kind \(kind) that this clipcap does not know: update clipcap"
        case .unknownCode(let p, let tensor, let field, let code):
            return "\(p): tensor '\(tensor)' has unknown \(field) code \(code); the file was written by a newer clipcap (update) or is corrupt"
        case .badQuantization(let p, let tensor, let reason):
            return "\(p): tensor '\(tensor)' has invalid quantization info (\(reason)): \(Self.reconvert)"
        case .invalidGraphs(let p, let reason):
            return "\(p): invalid graphs section (\(reason)): \(Self.reconvert)"
        case .decodeFailed(let p, let tensor, let reason):
            return "\(p): tensor '\(tensor)' does not decode (\(reason)); the file is corrupt: \(Self.reconvert)"
        case .unknownTensor(let p, let name):
            return "\(p): no tensor '\(name)' in this file (the entry belongs to another ModelFile)"
        }
    }
}

func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}
