// Parsing and validating everything but tensor bytes: header, section table, section
// checksums, tables, and the cross-checks between tensors (tiling, names, quantization).
// Used by `ModelFile.open` and again by `verify`.

/// The decoded, validated description of a `.ccm` file.
struct FileLayout {
    var version: Int
    var sections: [SectionInfo]
    var sectionTableOffset: Int
    var sectionTableLength: Int
    var metadata: Metadata
    var tensors: [TensorEntry]
    var graphs: [ComputeGraph]
    var tokenizer: TokenizerSpec?

    /// Parses and validates `file` (the whole mapped file), throwing the first problem found.
    static func parse(_ file: UnsafeRawBufferPointer, path: String) throws -> FileLayout {
        if let foreign = FileSniffer.identify(file, path: path) { throw foreign }
        let size = file.count
        if size < CCMFormatSpec.magic.count, file.elementsEqual(CCMFormatSpec.magic.prefix(size)) {
            throw ModelFileError.truncated(path: path, expected: CCMFormatSpec.headerLength, actual: size)
        }
        guard size >= CCMFormatSpec.magic.count, file.prefix(CCMFormatSpec.magic.count).elementsEqual(CCMFormatSpec.magic) else {
            throw ModelFileError.badMagic(path: path)
        }
        func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: file.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: file.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }

        let headerLength = CCMFormatSpec.headerLength
        guard size >= headerLength else {
            let declared = size >= 40 ? Int(clamping: u64(32)) : headerLength
            throw ModelFileError.truncated(path: path, expected: max(declared, headerLength), actual: size)
        }
        let version = u32(8)
        guard version == CCMFormatSpec.version else {
            // A newer file has a valid header checksum (the checksum's place never moves) or at
            // least a plausible version number; a flipped byte in the version field has neither.
            let checksumHolds = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: file[0..<60])) == u32(60)
            if !checksumHolds && version > 255 {
                throw ModelFileError.checksumMismatch(path: path, region: "header")
            }
            throw ModelFileError.unsupportedVersion(path: path, found: version, supported: CCMFormatSpec.version)
        }
        guard u32(12) == CCMFormatSpec.byteOrderMark else { throw ModelFileError.wrongByteOrder(path: path) }
        guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: file[0..<60])) == u32(60) else {
            throw ModelFileError.checksumMismatch(path: path, region: "header")
        }
        guard Int(u32(16)) == headerLength, u32(44) == 0, file[48..<60].allSatisfy({ $0 == 0 }) else {
            throw ModelFileError.malformed(path: path, section: "header", reason: "header length, flags or reserved bytes are not those of version 1")
        }
        let declaredLength = u64(32)
        if declaredLength > UInt64(size) {
            throw ModelFileError.truncated(path: path, expected: Int(clamping: declaredLength), actual: size)
        }
        if declaredLength < UInt64(size) {
            throw ModelFileError.trailingBytes(path: path, expected: Int(declaredLength), actual: size)
        }

        // Section table.
        let count = Int(u32(20))
        guard count >= 1 else {
            throw ModelFileError.badSectionTable(path: path, reason: "the header declares 0 sections; a model has at least one")
        }
        guard count <= FormatLimits.maxSections else {
            throw ModelFileError.limitExceeded(path: path, what: "section count \(count)", limit: FormatLimits.maxSections)
        }
        let tableOffset64 = u64(24)
        let tableLength = count * CCMFormatSpec.sectionEntryLength
        guard tableOffset64 >= UInt64(headerLength), tableOffset64 <= UInt64(size),
              UInt64(size) - tableOffset64 >= UInt64(tableLength) else {
            throw ModelFileError.outOfBounds(path: path, what: "section table (offset \(tableOffset64), \(tableLength) bytes)")
        }
        let tableOffset = Int(tableOffset64)
        guard tableOffset % CCMFormatSpec.sectionAlignment == 0 else {
            throw ModelFileError.badSectionTable(path: path, reason: "section table offset \(tableOffset) is not a multiple of 8")
        }
        let table = UnsafeRawBufferPointer(rebasing: file[tableOffset..<(tableOffset + tableLength)])
        guard CRC32C.checksum(table) == u32(40) else {
            throw ModelFileError.checksumMismatch(path: path, region: "section table")
        }
        let sections = try parseSectionTable(table, count: count, fileSize: size, path: path)

        // Sections may not overlap each other or the section table.
        var spans = sections.map { (start: $0.offset, end: $0.offset + $0.length, name: "\($0.name) section") }
        spans.append((tableOffset, tableOffset + tableLength, "section table"))
        spans.sort { ($0.start, $0.end) < ($1.start, $1.end) }
        for (a, b) in zip(spans, spans.dropFirst()) where b.start < a.end {
            throw ModelFileError.overlap(path: path, first: a.name, second: b.name)
        }

        // Known sections: checksums, caps, decoding.
        var byKind: [SectionKind: SectionInfo] = [:]
        for s in sections {
            guard let kind = s.knownKind else { continue }
            guard byKind[kind] == nil else {
                throw ModelFileError.badSectionTable(path: path, reason: "the \(kind) section appears twice")
            }
            byKind[kind] = s
        }
        for kind in [SectionKind.metadata, .tensorTable, .tensorData] where byKind[kind] == nil {
            throw ModelFileError.badSectionTable(path: path, reason: "the required \(kind) section is missing")
        }
        func body(_ s: SectionInfo) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: file[s.offset..<(s.offset + s.length)])
        }
        for s in sections where s.checksummed {
            guard CRC32C.checksum(body(s)) == s.checksum else {
                throw ModelFileError.checksumMismatch(path: path, region: "\(s.name) section")
            }
        }
        let caps: [SectionKind: Int] = [.metadata: FormatLimits.maxMetadataSection, .tensorTable: FormatLimits.maxTensorTableSection,
                                        .graphs: FormatLimits.maxGraphsSection, .tokenizer: FormatLimits.maxTokenizerSection]
        for (kind, cap) in caps {
            if let s = byKind[kind], s.length > cap {
                throw ModelFileError.limitExceeded(path: path, what: "\(kind) section of \(s.length) bytes", limit: cap)
            }
        }

        var r = ByteReader(body(byKind[.metadata]!), path: path, section: "metadata section")
        let metadata = try MetadataCodec.decode(&r)
        try r.expectEnd()

        r = ByteReader(body(byKind[.tensorTable]!), path: path, section: "tensor table")
        let tensors = try TensorTableCodec.decode(&r)
        try checkTensors(tensors, data: byKind[.tensorData]!, path: path)

        let graphs = try byKind[.graphs].map { try GraphCodec.decode(body($0), path: path) } ?? []
        var tokenizer: TokenizerSpec?
        if let s = byKind[.tokenizer] {
            r = ByteReader(body(s), path: path, section: "tokenizer section")
            tokenizer = try TokenizerCodec.decode(&r)
        }
        return FileLayout(version: Int(version), sections: sections, sectionTableOffset: tableOffset,
                          sectionTableLength: tableLength, metadata: metadata, tensors: tensors,
                          graphs: graphs, tokenizer: tokenizer)
    }

    private static func parseSectionTable(_ table: UnsafeRawBufferPointer, count: Int, fileSize: Int, path: String) throws -> [SectionInfo] {
        var r = ByteReader(table, path: path, section: "section table")
        var sections: [SectionInfo] = []
        for _ in 0..<count {
            let kind = try r.u32(), flags = try r.u32()
            let offset = try r.u64(), length = try r.u64()
            let checksum = try r.u32(), reserved = try r.u32()
            let name = SectionKind.name(of: kind)
            guard flags & ~SectionFlags.known == 0, reserved == 0 else {
                throw ModelFileError.badSectionTable(path: path, reason: "\(name) section has unknown flags \(flags) or reserved bits set")
            }
            guard offset >= UInt64(CCMFormatSpec.headerLength), offset <= UInt64(fileSize),
                  length <= UInt64(fileSize) - offset else {
                throw ModelFileError.outOfBounds(path: path, what: "\(name) section (offset \(offset), length \(length))")
            }
            let info = SectionInfo(kind: kind, offset: Int(offset), length: Int(length),
                                   required: flags & SectionFlags.required != 0,
                                   checksummed: flags & SectionFlags.checksummed != 0, checksum: checksum)
            if let known = info.knownKind {
                let alignment = known == .tensorData ? CCMFormatSpec.tensorAlignment : CCMFormatSpec.sectionAlignment
                guard info.offset % alignment == 0, known != .tensorData || info.length % alignment == 0 else {
                    throw ModelFileError.badSectionTable(path: path, reason: "\(name) section at \(offset) (length \(length)) is not aligned to \(alignment)")
                }
                guard known == .tensorData || info.checksummed else {
                    throw ModelFileError.badSectionTable(path: path, reason: "\(name) section carries no checksum")
                }
            } else if info.required {
                throw ModelFileError.unsupportedSection(path: path, kind: kind)
            }
            sections.append(info)
        }
        return sections
    }

    /// Names unique; tensors tile the data section at 64-byte boundaries; quantization info consistent.
    private static func checkTensors(_ tensors: [TensorEntry], data: SectionInfo, path: String) throws {
        var byName: [String: TensorEntry] = [:]
        byName.reserveCapacity(tensors.count)
        for t in tensors {
            guard byName.updateValue(t, forKey: t.name) == nil else {
                throw ModelFileError.duplicateName(path: path, kind: "tensor", name: t.name)
            }
        }
        let dataEnd = data.offset + data.length
        var cursor = data.offset
        // Each tensor on its own first, so the error names the culprit rather than a neighbour.
        for t in tensors {
            guard t.offset >= data.offset, t.offset <= dataEnd, t.storedLength <= dataEnd - t.offset else {
                throw ModelFileError.outOfBounds(path: path, what: "tensor '\(t.name)' (offset \(t.offset), length \(t.storedLength)) in the tensor data section")
            }
            guard t.offset % CCMFormatSpec.tensorAlignment == 0 else {
                throw ModelFileError.misaligned(path: path, tensor: t.name, offset: t.offset)
            }
        }
        var previous: TensorEntry?
        for t in tensors.sorted(by: { ($0.offset, $0.storedLength, $0.index) < ($1.offset, $1.storedLength, $1.index) }) {
            if t.offset < cursor, let previous {
                throw ModelFileError.overlap(path: path, first: "tensor '\(previous.name)'", second: "tensor '\(t.name)'")
            }
            guard t.offset == cursor else {
                throw ModelFileError.unaccountedBytes(path: path, what: "\(t.offset - cursor) bytes before tensor '\(t.name)' belong to no tensor")
            }
            cursor = alignUp(t.offset + t.storedLength, CCMFormatSpec.tensorAlignment)
            previous = t
        }
        guard cursor == dataEnd else {
            throw ModelFileError.unaccountedBytes(path: path, what: "\(dataEnd - cursor) bytes at the end of the tensor data section belong to no tensor")
        }
        for t in tensors {
            if let q = t.quantization { try checkQuantization(q, of: t, byName: byName, path: path) }
        }
    }

    private static func checkQuantization(_ q: QuantizationInfo, of t: TensorEntry, byName: [String: TensorEntry], path: String) throws {
        func bad(_ reason: String) -> ModelFileError { .badQuantization(path: path, tensor: t.name, reason: reason) }
        guard t.dtype == .i8 else { throw bad("quantization info on a \(t.dtype) tensor; only i8 tensors are quantized") }
        guard let scales = byName[q.scalesTensor] else { throw bad("scales tensor '\(q.scalesTensor)' does not exist") }
        guard scales.dtype == .f32 else { throw bad("scales tensor '\(q.scalesTensor)' is \(scales.dtype), not f32") }
        guard !t.shape.isEmpty else { throw bad("a scalar cannot be quantized") }
        let expected: Int
        switch q.scheme {
        case "per_channel":
            guard q.axis < t.shape.count else { throw bad("axis \(q.axis) but rank \(t.shape.count)") }
            expected = t.shape[q.axis]
        case "block":
            guard q.blockSize > 0 else { throw bad("block scheme with block size 0") }
            let last = t.shape[t.shape.count - 1]
            let rows = t.shape.dropLast().reduce(1, *)   // bounded: the element count did not overflow
            expected = rows * ((last + q.blockSize - 1) / q.blockSize)
        default:
            throw bad("unknown scheme '\(q.scheme)' (known: per_channel, block)")
        }
        guard scales.elementCount == expected else {
            throw bad("scales tensor '\(q.scalesTensor)' has \(scales.elementCount) values, the \(q.scheme) scheme needs \(expected)")
        }
    }
}

/// `value` rounded up to a multiple of `alignment` (a power of two).
func alignUp(_ value: Int, _ alignment: Int) -> Int { (value + alignment - 1) & ~(alignment - 1) }
