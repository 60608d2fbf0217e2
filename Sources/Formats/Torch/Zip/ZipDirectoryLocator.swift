/// Finds the central directory from the end-of-central-directory record (and its ZIP64
/// variant, which PyTorch writes for archives over 4 GiB or 65535 entries).
enum ZipDirectoryLocator {
    struct Directory {
        let offset: Int
        let size: Int
        let count: Int
    }

    private static let zip64LocatorSignature: UInt64 = 0x0706_4b50
    private static let zip64EndSignature: UInt64 = 0x0606_4b50

    static func locate(in file: MappedFile, limits: ReaderLimits) throws -> Directory {
        let path = file.path
        guard file.size >= 22 else {
            throw CheckpointError.truncated(path: path, what: "the zip end-of-directory record")
        }
        // The record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
        let tailStart = max(0, file.size - 22 - 65_535)
        let tail = try file.bytes(tailStart..<file.size, what: "the zip end-of-directory record")
        let minimum = tailStart
        var found: Int?
        for candidate in file.offsetsOf([0x50, 0x4B, 0x05, 0x06], searchingBackwardIn: minimum..<file.size) {
            let local = candidate - tailStart
            if local + 22 <= tail.count, let commentLength = tail.littleEndian(at: local + 20, count: 2),
               local + 22 + Int(commentLength) == tail.count {
                found = local
                break
            }
        }
        guard let end = found else {
            throw CheckpointError.corruptZip(path: path, reason: "no end-of-directory record at the end of the file (is it truncated?)")
        }
        let endOffset = tailStart + end
        guard let disk = tail.littleEndian(at: end + 4, count: 2),
              let directoryDisk = tail.littleEndian(at: end + 6, count: 2),
              let count16 = tail.littleEndian(at: end + 10, count: 2),
              let size32 = tail.littleEndian(at: end + 12, count: 4),
              let offset32 = tail.littleEndian(at: end + 16, count: 4)
        else { throw CheckpointError.truncated(path: path, what: "the zip end-of-directory record") }

        var count = count16, size = size32, offset = offset32
        var directoryEnd = endOffset
        if count16 == 0xFFFF || size32 == 0xFFFF_FFFF || offset32 == 0xFFFF_FFFF {
            let zip64 = try readZip64End(file: file, endOffset: endOffset)
            (count, size, offset, directoryEnd) = (zip64.count, zip64.size, zip64.offset, zip64.recordOffset)
        } else if disk != 0 || directoryDisk != 0 {
            throw CheckpointError.corruptZip(path: path, reason: "multi-volume archives are not supported")
        }
        guard count <= UInt64(limits.maxZipEntries) else {
            throw CheckpointError.limitExceeded(path: path, what: "the number of zip entries (\(count))", limit: limits.maxZipEntries)
        }
        // Each central header is at least 46 bytes: a count the directory cannot hold is a lie.
        guard offset <= UInt64(directoryEnd), size <= UInt64(directoryEnd) - offset,
              count * 46 <= size else {
            throw CheckpointError.corruptZip(path: path, reason: "the central directory's offset, size or entry count is inconsistent")
        }
        return Directory(offset: Int(offset), size: Int(size), count: Int(count))
    }

    private struct Zip64End {
        let count: UInt64, size: UInt64, offset: UInt64
        let recordOffset: Int
    }

    private static func readZip64End(file: MappedFile, endOffset: Int) throws -> Zip64End {
        let path = file.path
        guard endOffset >= 76 else {
            throw CheckpointError.corruptZip(path: path, reason: "ZIP64 values without a ZIP64 locator")
        }
        let locator = try file.bytes(endOffset - 20..<endOffset, what: "the ZIP64 locator")
        guard locator.littleEndian(at: 0, count: 4) == zip64LocatorSignature,
              let recordOffset64 = locator.littleEndian(at: 8, count: 8),
              recordOffset64 <= UInt64(endOffset - 20 - 56)
        else { throw CheckpointError.corruptZip(path: path, reason: "ZIP64 values without a valid ZIP64 locator") }
        let recordOffset = Int(recordOffset64)
        let record = try file.bytes(recordOffset..<recordOffset + 56, what: "the ZIP64 end-of-directory record")
        guard record.littleEndian(at: 0, count: 4) == zip64EndSignature,
              let disk = record.littleEndian(at: 16, count: 4), let directoryDisk = record.littleEndian(at: 20, count: 4),
              let count = record.littleEndian(at: 32, count: 8),
              let size = record.littleEndian(at: 40, count: 8),
              let offset = record.littleEndian(at: 48, count: 8)
        else { throw CheckpointError.corruptZip(path: path, reason: "the ZIP64 end-of-directory record is damaged") }
        guard disk == 0, directoryDisk == 0 else {
            throw CheckpointError.corruptZip(path: path, reason: "multi-volume archives are not supported")
        }
        return Zip64End(count: count, size: size, offset: offset, recordOffset: recordOffset)
    }
}
