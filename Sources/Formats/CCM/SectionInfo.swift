// One entry of the section table, as exposed to `inspect`.

/// Where a section lies in the file, and how it is protected.
public struct SectionInfo: Sendable, Equatable {
    /// Raw kind code (1 metadata, 2 tensor table, 3 tensor data, 4 graphs, 5 tokenizer; others unknown).
    public let kind: UInt32
    public let offset: Int
    public let length: Int
    /// A reader that does not know this kind must refuse the file.
    public let required: Bool
    /// `checksum` is the CRC32C of the section bytes.
    public let checksummed: Bool
    public let checksum: UInt32

    /// The known kind, or nil for a section this reader skips.
    public var knownKind: SectionKind? { SectionKind(rawValue: kind) }
    /// Human name: `metadata`, `tensor table`, ... or `unknown section kind N`.
    public var name: String { SectionKind.name(of: kind) }
}
