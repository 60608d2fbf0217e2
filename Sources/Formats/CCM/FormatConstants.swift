// Numbers that define format version 1 of `.ccm` (docs/FORMAT.md) and the caps a reader
// enforces against hostile files. Kept in one place so the spec and the code agree.

/// Constants of the `.ccm` format (see docs/FORMAT.md).
public enum CCMFormatSpec {
    /// `\x89CCM\r\n\x1a\n`: the high byte and the CR/LF/EOF bytes reveal text-mode mangling.
    public static let magic: [UInt8] = [0x89, 0x43, 0x43, 0x4D, 0x0D, 0x0A, 0x1A, 0x0A]
    /// The format version this code writes and the newest it reads.
    public static let version: UInt32 = 1
    /// Written as a little-endian u32: bytes `04 03 02 01` on disk.
    public static let byteOrderMark: UInt32 = 0x0102_0304
    /// Fixed header length.
    public static let headerLength = 64
    /// Bytes per section-table entry.
    public static let sectionEntryLength = 32
    /// Every tensor starts at a multiple of this (file offset, and so in memory too).
    public static let tensorAlignment = 64
    /// Every section starts at a multiple of this.
    public static let sectionAlignment = 8
}

/// Section kinds of format version 1.
public enum SectionKind: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case metadata = 1
    case tensorTable = 2
    case tensorData = 3
    case graphs = 4
    case tokenizer = 5

    public var description: String {
        switch self {
        case .metadata: return "metadata"
        case .tensorTable: return "tensor table"
        case .tensorData: return "tensor data"
        case .graphs: return "graphs"
        case .tokenizer: return "tokenizer"
        }
    }

    /// Human name for a raw kind, including kinds this reader does not know.
    static func name(of raw: UInt32) -> String {
        SectionKind(rawValue: raw)?.description ?? "unknown section kind \(raw)"
    }
}

/// Section-table flag bits.
enum SectionFlags {
    /// A reader that does not know the kind must refuse the file.
    static let required: UInt32 = 1
    /// The entry's CRC32C covers the section bytes.
    static let checksummed: UInt32 = 2
    static let known: UInt32 = required | checksummed
}

/// Caps a reader enforces so a crafted file can neither crash it nor make it allocate much.
enum FormatLimits {
    static let maxSections = 64
    static let maxMetadataSection = 64 << 20
    static let maxTensorTableSection = 64 << 20
    static let maxGraphsSection = 64 << 20
    static let maxTokenizerSection = 256 << 20
    static let maxTensors = 1_000_000
    static let maxArrayCount = 10_000_000
    static let maxNameLength = 4096
    static let maxStringLength = 16 << 20
    static let maxRank = 8
    static let maxDimension: UInt64 = 1 << 40
    static let maxDecodedTensorBytes = 64 << 30
    /// zstd cannot expand data by more than about this factor (RLE blocks).
    static let maxCompressionRatio = 32768
}
