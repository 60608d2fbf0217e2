/// One file inside a zip archive, as described by the central directory and its local header.
struct ZipEntry: Sendable {
    let name: String
    /// 0 = stored; PyTorch stores tensors and pickles, and deflates only TorchScript `code/`.
    let method: UInt16
    let flags: UInt16
    let compressedSize: Int
    let uncompressedSize: Int
    let localHeaderOffset: Int
    /// Where the entry's bytes start (after the local header, its name and its extra field).
    let dataOffset: Int

    var dataRange: Range<Int> { dataOffset..<(dataOffset + compressedSize) }
    var isEncrypted: Bool { flags & 1 != 0 }
}

/// A read-only zip archive over a memory-mapped file: the central directory (with ZIP64),
/// validated once at open. Entries are refused when their names escape the archive, their
/// headers or bytes lie outside the file, or they overlap each other (the zip-bomb trick of
/// many entries sharing bytes), so the sum of entry sizes can never exceed the file size.
struct ZipArchive: Sendable {
    let file: MappedFile
    let entries: [ZipEntry]
    private let indexByName: [String: Int]

    private var path: String { file.path }

    init(file: MappedFile, limits: ReaderLimits) throws {
        self.file = file
        let directory = try ZipDirectoryLocator.locate(in: file, limits: limits)
        let raw = try file.bytes(directory.offset..<(directory.offset + directory.size),
                                 what: "the zip central directory")
        var reader = ByteReader(raw)
        var entries: [ZipEntry] = []
        entries.reserveCapacity(directory.count)
        var indexByName: [String: Int] = [:]
        for number in 0..<directory.count {
            let entry = try Self.readCentralHeader(&reader, number: number, file: file,
                                                   directoryStart: directory.offset)
            guard indexByName[entry.name] == nil else {
                throw CheckpointError.corruptZip(path: file.path, reason: "entry \"\(entry.name)\" appears twice")
            }
            indexByName[entry.name] = entries.count
            entries.append(entry)
        }
        try Self.checkNoOverlap(entries, directoryStart: directory.offset, path: file.path)
        self.entries = entries
        self.indexByName = indexByName
    }

    func entry(named name: String) -> ZipEntry? {
        indexByName[name].map { entries[$0] }
    }

    /// The byte range of a stored (uncompressed, unencrypted) entry inside the file.
    func storedRange(of entry: ZipEntry) throws -> Range<Int> {
        guard !entry.isEncrypted else {
            throw CheckpointError.unsupportedEntry(path: path, name: entry.name, reason: "encrypted")
        }
        guard entry.method == 0 else {
            throw CheckpointError.unsupportedEntry(path: path, name: entry.name,
                                                   reason: "compressed (method \(entry.method))")
        }
        guard entry.compressedSize == entry.uncompressedSize else {
            throw CheckpointError.corruptZip(path: path, reason: "stored entry \"\(entry.name)\" declares two different sizes")
        }
        return entry.dataRange
    }

    /// The whole content of a small stored entry, refused above `limit` bytes.
    func read(_ entry: ZipEntry, limit: Int) throws -> [UInt8] {
        let range = try storedRange(of: entry)
        guard range.count <= limit else {
            throw CheckpointError.limitExceeded(path: path, what: "zip entry \"\(entry.name)\" (\(range.count) bytes)", limit: limit)
        }
        return try file.bytes(range, what: "zip entry \"\(entry.name)\"")
    }

    // MARK: - Central directory

    private static func readCentralHeader(_ reader: inout ByteReader, number: Int, file: MappedFile,
                                          directoryStart: Int) throws -> ZipEntry {
        let path = file.path
        func corrupt(_ why: String) -> CheckpointError {
            .corruptZip(path: path, reason: "central directory entry \(number): \(why)")
        }
        guard let signature = reader.u32(), signature == 0x0201_4b50 else {
            throw corrupt("bad signature")
        }
        guard reader.skip(4), let flags = reader.u16(), let method = reader.u16(), reader.skip(8),
              let compressed32 = reader.u32(), let uncompressed32 = reader.u32(),
              let nameLength = reader.u16(), let extraLength = reader.u16(), let commentLength = reader.u16(),
              reader.skip(8), let offset32 = reader.u32(),
              let nameBytes = reader.take(Int(nameLength)), let extra = reader.take(Int(extraLength)),
              reader.skip(Int(commentLength))
        else { throw corrupt("the record is cut short") }

        guard let name = String(validating: nameBytes, as: UTF8.self) else {
            throw corrupt("the name is not UTF-8")
        }
        guard ZipEntryName.isSafe(name) else {
            throw CheckpointError.unsafeEntryName(path: path, name: name)
        }
        var compressed = UInt64(compressed32)
        var uncompressed = UInt64(uncompressed32)
        var offset = UInt64(offset32)
        if compressed32 == .max || uncompressed32 == .max || offset32 == .max {
            // ZIP64 extended information: only the fields saturated above are present, in this order.
            guard var zip64 = Self.zip64Field(in: Array(extra)) else { throw corrupt("missing ZIP64 sizes") }
            if uncompressed32 == .max { guard let v = zip64.u64() else { throw corrupt("short ZIP64 field") }; uncompressed = v }
            if compressed32 == .max { guard let v = zip64.u64() else { throw corrupt("short ZIP64 field") }; compressed = v }
            if offset32 == .max { guard let v = zip64.u64() else { throw corrupt("short ZIP64 field") }; offset = v }
        }
        guard compressed <= UInt64(file.size), uncompressed <= UInt64(Int.max / 2),
              offset < UInt64(directoryStart) else {
            throw corrupt("its offset or size lies outside the file")
        }
        let localOffset = Int(offset)
        let header = try file.bytes(localOffset..<min(localOffset + 30, file.size), what: "local header of \"\(name)\"")
        guard header.count == 30, header.littleEndian(at: 0, count: 4) == 0x0403_4b50,
              let localNameLength = header.littleEndian(at: 26, count: 2),
              let localExtraLength = header.littleEndian(at: 28, count: 2)
        else { throw corrupt("its local header for \"\(name)\" is missing or damaged") }
        let localName = try file.bytes(localOffset + 30..<(localOffset + 30 + Int(localNameLength)),
                                       what: "local header of \"\(name)\"")
        guard localName.elementsEqual(nameBytes) else {
            throw corrupt("its local header names \"\(printable(String(decoding: localName, as: UTF8.self)))\", not \"\(printable(name))\"")
        }
        let dataOffset = localOffset + 30 + Int(localNameLength) + Int(localExtraLength)
        guard dataOffset <= directoryStart, Int(compressed) <= directoryStart - dataOffset else {
            throw CheckpointError.truncated(path: path, what: "zip entry \"\(name)\"")
        }
        return ZipEntry(name: name, method: method, flags: flags, compressedSize: Int(compressed),
                        uncompressedSize: Int(uncompressed), localHeaderOffset: localOffset, dataOffset: dataOffset)
    }

    /// The payload of the ZIP64 extra field (id 1), if present.
    private static func zip64Field(in extra: [UInt8]) -> ByteReader? {
        var reader = ByteReader(extra)
        while reader.remaining >= 4 {
            guard let id = reader.u16(), let length = reader.u16(), let body = reader.take(Int(length)) else { return nil }
            if id == 1 { return ByteReader(Array(body)) }
        }
        return nil
    }

    /// Entries (local header through data) must not share bytes with each other or the directory.
    private static func checkNoOverlap(_ entries: [ZipEntry], directoryStart: Int, path: String) throws {
        let sorted = entries.sorted { $0.localHeaderOffset < $1.localHeaderOffset }
        var previousEnd = 0
        var previousName = ""
        for entry in sorted {
            guard entry.localHeaderOffset >= previousEnd else {
                throw CheckpointError.corruptZip(path: path, reason: "entries \"\(previousName)\" and \"\(entry.name)\" overlap (a zip-bomb pattern)")
            }
            previousEnd = entry.dataOffset + entry.compressedSize
            previousName = entry.name
        }
        guard previousEnd <= directoryStart else {
            throw CheckpointError.corruptZip(path: path, reason: "entry \"\(previousName)\" overlaps the central directory")
        }
    }
}

/// Rules for entry names we are willing to look at.
enum ZipEntryName {
    /// Relative, no `..` component, no NUL, no backslash (a Windows separator), not empty.
    static func isSafe(_ name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix("/"), !name.contains("\\"), !name.contains("\0") else { return false }
        if name.count >= 2, name.dropFirst().first == ":" { return false }   // "C:..."
        return !name.split(separator: "/", omittingEmptySubsequences: false).contains("..")
    }
}
