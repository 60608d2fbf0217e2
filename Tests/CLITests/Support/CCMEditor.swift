import CCMFormat
import Foundation

/// Byte-level access to a `.ccm` file (docs/FORMAT.md) for building hostile variants: where
/// the header fields, sections and section-table entries are, and `reseal()` to recompute
/// every table checksum after an edit so the lie reaches the reader's deeper checks instead
/// of being caught by a CRC.
struct CCMEditor {
    struct Section {
        let index: Int
        let kind: UInt32
        let flags: UInt32
        var offset: Int
        var length: Int
        /// Where this section's 32-byte entry sits in the file.
        let entryOffset: Int
        var name: String {
            switch kind {
            case 1: return "metadata"
            case 2: return "tensor table"
            case 3: return "tensor data"
            case 4: return "graphs"
            case 5: return "tokenizer"
            default: return "section \(kind)"
            }
        }
    }

    var bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var sectionCount: Int { Int(u32(at: 20)) }
    var tableOffset: Int { Int(clamping: u64(at: 24)) }
    var tableLength: Int { sectionCount * 32 }

    /// The section entries that lie inside the file (an edit may have made the table lie).
    var sections: [Section] {
        guard tableOffset >= 0, tableOffset < bytes.count else { return [] }
        let readable = min(sectionCount, (bytes.count - tableOffset) / 32)
        return (0..<readable).map { i in
            let e = tableOffset + 32 * i
            return Section(index: i, kind: u32(at: e), flags: u32(at: e + 4), offset: Int(clamping: u64(at: e + 8)),
                           length: Int(clamping: u64(at: e + 16)), entryOffset: e)
        }
    }

    func section(_ name: String) -> Section? { sections.first { $0.name == name } }

    /// Every offset where a structure starts or ends: header fields, sections, table entries.
    var boundaries: [Int] {
        var cuts: Set<Int> = [0, 1, 4, 8, 12, 16, 20, 24, 32, 40, 44, 48, 60, 63, 64]
        for s in sections {
            cuts.formUnion([s.offset, s.offset + 1, s.offset + s.length / 2, s.offset + s.length - 1, s.offset + s.length])
            cuts.formUnion([s.entryOffset, s.entryOffset + 8, s.entryOffset + 16])
        }
        cuts.formUnion([tableOffset, tableOffset + tableLength - 1])
        return cuts.filter { $0 >= 0 && $0 < bytes.count }.sorted()
    }

    func u32(at o: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[o + $1]) << (8 * UInt32($1)) } }
    func u64(at o: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[o + $1]) << (8 * UInt64($1)) } }
    mutating func setU32(_ v: UInt32, at o: Int) { for i in 0..<4 { bytes[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
    mutating func setU64(_ v: UInt64, at o: Int) { for i in 0..<8 { bytes[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) } }

    /// Recomputes the CRC32C of every checksummed section, of the section table and of the header.
    mutating func reseal() {
        for s in sections where s.flags & 2 != 0 && s.offset >= 0 && s.length >= 0 && s.offset <= bytes.count && s.length <= bytes.count - s.offset {
            setU32(CRC32C.checksum(Array(bytes[s.offset..<(s.offset + s.length)])), at: s.entryOffset + 24)
        }
        if tableOffset >= 0, tableLength <= bytes.count, tableOffset <= bytes.count - tableLength {
            setU32(CRC32C.checksum(Array(bytes[tableOffset..<(tableOffset + tableLength)])), at: 40)
        }
        setU32(CRC32C.checksum(Array(bytes[0..<60])), at: 60)
    }

    /// The first tensor-table entry's field offsets (absolute): count, rank, dims, offset,
    /// stored length, byte count, checksum.
    struct FirstTensor {
        let countOffset: Int
        let nameLength: Int
        let rankOffset: Int
        let dimsOffset: Int
        let rank: Int
        var dataOffsetField: Int { dimsOffset + 8 * rank }
        var storedLengthField: Int { dataOffsetField + 8 }
        var byteCountField: Int { dataOffsetField + 16 }
        var checksumField: Int { dataOffsetField + 24 }
        var encodingOffset: Int { rankOffset - 1 }
        var dtypeOffset: Int { rankOffset - 3 }
    }

    var firstTensor: FirstTensor? {
        guard let table = section("tensor table") else { return nil }
        let nameLength = Int(u32(at: table.offset + 4))
        let dtype = table.offset + 8 + nameLength
        let rankOffset = dtype + 3
        return FirstTensor(countOffset: table.offset, nameLength: nameLength, rankOffset: rankOffset,
                           dimsOffset: rankOffset + 1, rank: Int(bytes[rankOffset]))
    }
}

