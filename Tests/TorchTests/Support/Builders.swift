import Foundation

/// Where the committed fixtures live, and scratch files for hand-built inputs.
enum Fixtures {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/torch")

    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
    }

    /// A fresh scratch folder for this test process.
    static let scratch: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("torchtests-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// Writes `bytes` to a scratch file and returns its path.
    static func write(_ bytes: [UInt8], name: String) throws -> String {
        // Plain stdio: Data.write costs ~10 ms per call here, and the mutation tests write thousands.
        let path = scratch.appendingPathComponent(name).path
        guard let handle = fopen(path, "wb") else { throw CocoaError(.fileWriteUnknown) }
        defer { fclose(handle) }
        guard fwrite(bytes, 1, bytes.count, handle) == bytes.count else { throw CocoaError(.fileWriteUnknown) }
        return path
    }
}

/// Writes stored (uncompressed) zip archives, optionally in ZIP64 form, with any entry
/// names and declared sizes: the tests use it to build hostile archives by hand.
struct ZipBuilder {
    struct Entry {
        var name: String
        var data: [UInt8]
        var method: UInt16 = 0
    }

    var entries: [Entry] = []
    var zip64 = false

    mutating func add(_ name: String, _ data: [UInt8], method: UInt16 = 0) {
        entries.append(Entry(name: name, data: data, method: method))
    }

    /// Overrides applied to the central directory (to lie about sizes and offsets).
    var centralSizeOverride: [String: UInt32] = [:]
    var centralOffsetOverride: [String: UInt32] = [:]

    func build() -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for entry in entries {
            let offset = out.count
            let name = Array(entry.name.utf8)
            out += le(0x0403_4b50, 4) + le(20, 2) + le(0, 2) + le(UInt64(entry.method), 2) + le(0, 4) + le(0, 4)
            out += le(UInt64(entry.data.count), 4) + le(UInt64(entry.data.count), 4)
            out += le(UInt64(name.count), 2) + le(0, 2) + name + entry.data

            let size32 = centralSizeOverride[entry.name].map(UInt64.init) ?? (zip64 ? 0xFFFF_FFFF : UInt64(entry.data.count))
            let offset32 = centralOffsetOverride[entry.name].map(UInt64.init) ?? (zip64 ? 0xFFFF_FFFF : UInt64(offset))
            var extra: [UInt8] = []
            if zip64 {
                extra = le(1, 2) + le(24, 2) + le(UInt64(entry.data.count), 8) + le(UInt64(entry.data.count), 8) + le(UInt64(offset), 8)
            }
            central += le(0x0201_4b50, 4) + le(45, 2) + le(45, 2) + le(0, 2) + le(UInt64(entry.method), 2) + le(0, 4) + le(0, 4)
            central += le(size32, 4) + le(size32, 4) + le(UInt64(name.count), 2) + le(UInt64(extra.count), 2)
            central += le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset32, 4) + name + extra
        }
        let directoryOffset = out.count
        out += central
        if zip64 {
            let recordOffset = out.count
            out += le(0x0606_4b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4)
            out += le(UInt64(entries.count), 8) + le(UInt64(entries.count), 8)
            out += le(UInt64(central.count), 8) + le(UInt64(directoryOffset), 8)
            out += le(0x0706_4b50, 4) + le(0, 4) + le(UInt64(recordOffset), 8) + le(1, 4)
            out += le(0x0605_4b50, 4) + le(0, 2) + le(0, 2) + le(0xFFFF, 2) + le(0xFFFF, 2)
            out += le(0xFFFF_FFFF, 4) + le(0xFFFF_FFFF, 4) + le(0, 2)
        } else {
            out += le(0x0605_4b50, 4) + le(0, 2) + le(0, 2) + le(UInt64(entries.count), 2) + le(UInt64(entries.count), 2)
            out += le(UInt64(central.count), 4) + le(UInt64(directoryOffset), 4) + le(0, 2)
        }
        return out
    }
}

func le(_ value: UInt64, _ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
}

/// Hand-written pickle streams (protocol 2) for hostile-input tests.
enum Pickle {
    static let proto: [UInt8] = [0x80, 0x02]
    static let stop: [UInt8] = [0x2E]
    static let mark: [UInt8] = [0x28]
    static let emptyDict: [UInt8] = [0x7D]
    static let emptyList: [UInt8] = [0x5D]
    static let emptyTuple: [UInt8] = [0x29]
    static let setitems: [UInt8] = [0x75]
    static let reduce: [UInt8] = [0x52]
    static let binpersid: [UInt8] = [0x51]
    static let newfalse: [UInt8] = [0x89]

    static func global(_ module: String, _ name: String) -> [UInt8] {
        [0x63] + Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A]
    }

    static func string(_ s: String) -> [UInt8] {
        let utf8 = Array(s.utf8)
        return [0x58] + le(UInt64(utf8.count), 4) + utf8
    }

    static func int(_ v: Int) -> [UInt8] { [0x4A] + le(UInt64(UInt32(truncatingIfNeeded: v)), 4) }

    static func tuple(_ items: [[UInt8]]) -> [UInt8] { mark + items.flatMap { $0 } + [0x74] }

    /// `_rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`
    static func tensor(key: String, numel: Int, offset: Int, size: [Int], stride: [Int],
                       storage: String = "FloatStorage") -> [UInt8] {
        let pid = tuple([string("storage"), global("torch", storage), string(key), string("cpu"), int(numel)])
        let hooks = global("collections", "OrderedDict") + emptyTuple + reduce
        return global("torch._utils", "_rebuild_tensor_v2")
            + tuple([pid + binpersid, int(offset), tuple(size.map(int)), tuple(stride.map(int)), newfalse, hooks]) + reduce
    }

    /// `{name: value, ...}` from already-pickled values.
    static func dict(_ items: [(String, [UInt8])]) -> [UInt8] {
        emptyDict + mark + items.flatMap { string($0.0) + $0.1 } + setitems
    }
}

/// A torch.save-style archive around a hand-written pickle and storages.
func torchArchive(pickle: [UInt8], storages: [String: [UInt8]] = [:], prefix: String = "archive",
                  byteorder: String = "little", zip64: Bool = false) -> [UInt8] {
    var zip = ZipBuilder()
    zip.zip64 = zip64
    zip.add(prefix + "/data.pkl", pickle)
    zip.add(prefix + "/byteorder", Array(byteorder.utf8))
    for key in storages.keys.sorted() { zip.add(prefix + "/data/" + key, storages[key] ?? []) }
    zip.add(prefix + "/version", Array("3\n".utf8))
    return zip.build()
}

func floatBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { le(UInt64($0.bitPattern), 4) }
}

func floats(_ bytes: [UInt8]) -> [Float] {
    stride(from: 0, to: bytes.count - 3, by: 4).map { i in
        Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
    }
}
