import Foundation

/// Writes zip archives entry by entry, with any names, methods and (lying) declared sizes and
/// offsets: enough to build hostile `torch.save` archives by hand. Data is stored as given;
/// `method` only labels it (8 = deflate: pass already-deflated bytes).
struct ZipBuilder {
    struct Entry {
        var name: String
        var data: [UInt8]
        var method: UInt16 = 0
        /// Declared uncompressed size (default: the data's size).
        var declaredSize: UInt32? = nil
        /// Declared local-header offset in the central directory (default: the real one).
        var declaredOffset: UInt32? = nil
    }

    var entries: [Entry] = []

    mutating func add(_ name: String, _ data: [UInt8], method: UInt16 = 0, declaredSize: UInt32? = nil, declaredOffset: UInt32? = nil) {
        entries.append(Entry(name: name, data: data, method: method, declaredSize: declaredSize, declaredOffset: declaredOffset))
    }

    func build() -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for entry in entries {
            let offset = out.count
            let name = Array(entry.name.utf8)
            let size = UInt64(entry.declaredSize ?? UInt32(entry.data.count))
            let stored = UInt64(entry.data.count)
            out += le(0x0403_4b50, 4) + le(20, 2) + le(0, 2) + le(UInt64(entry.method), 2) + le(0, 4) + le(0, 4)
            out += le(stored, 4) + le(size, 4) + le(UInt64(name.count), 2) + le(0, 2) + name + entry.data
            central += le(0x0201_4b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(UInt64(entry.method), 2) + le(0, 4) + le(0, 4)
            central += le(stored, 4) + le(size, 4) + le(UInt64(name.count), 2) + le(0, 2)
            central += le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(UInt64(entry.declaredOffset ?? UInt32(offset)), 4) + name
        }
        let directoryOffset = out.count
        out += central
        out += le(0x0605_4b50, 4) + le(0, 2) + le(0, 2) + le(UInt64(entries.count), 2) + le(UInt64(entries.count), 2)
        out += le(UInt64(central.count), 4) + le(UInt64(directoryOffset), 4) + le(0, 2)
        return out
    }
}

func le(_ value: UInt64, _ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
}

/// Hand-written pickle streams (protocol 2).
enum Pickle {
    static let proto: [UInt8] = [0x80, 0x02]
    static let stop: [UInt8] = [0x2E]
    static let mark: [UInt8] = [0x28]
    static let emptyDict: [UInt8] = [0x7D]
    static let emptyTuple: [UInt8] = [0x29]
    static let emptyList: [UInt8] = [0x5D]
    static let append: [UInt8] = [0x61]
    static let setitems: [UInt8] = [0x75]
    static let reduce: [UInt8] = [0x52]
    static let binpersid: [UInt8] = [0x51]
    static let newfalse: [UInt8] = [0x89]
    static let tupleOp: [UInt8] = [0x74]

    static func global(_ module: String, _ name: String) -> [UInt8] {
        [0x63] + Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A]
    }

    /// STACK_GLOBAL form (protocol 4): module and name as strings on the stack.
    static func stackGlobal(_ module: String, _ name: String) -> [UInt8] {
        string(module) + string(name) + [0x93]
    }

    static func string(_ s: String) -> [UInt8] {
        let utf8 = Array(s.utf8)
        return [0x58] + le(UInt64(utf8.count), 4) + utf8
    }

    static func int(_ v: Int) -> [UInt8] { [0x4A] + le(UInt64(UInt32(truncatingIfNeeded: v)), 4) }

    static func tuple(_ items: [[UInt8]]) -> [UInt8] { mark + items.flatMap { $0 } + tupleOp }

    /// `callable(*args)` through REDUCE: what every code-running pickle does.
    static func call(_ callable: [UInt8], _ args: [[UInt8]]) -> [UInt8] { callable + tuple(args) + reduce }

    /// `_rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`
    static func tensor(key: String, numel: Int, size: [Int], stride: [Int]) -> [UInt8] {
        let pid = tuple([string("storage"), global("torch", "FloatStorage"), string(key), string("cpu"), int(numel)])
        let hooks = global("collections", "OrderedDict") + emptyTuple + reduce
        return global("torch._utils", "_rebuild_tensor_v2")
            + tuple([pid + binpersid, int(0), tuple(size.map(int)), tuple(stride.map(int)), newfalse, hooks]) + reduce
    }

    /// `{name: value, ...}` from already-pickled values.
    static func dict(_ items: [(String, [UInt8])]) -> [UInt8] {
        emptyDict + mark + items.flatMap { string($0.0) + $0.1 } + setitems
    }

    /// A whole stream: PROTO 2, `body`, STOP.
    static func stream(_ body: [UInt8]) -> [UInt8] { proto + body + stop }
}

/// A `torch.save`-style archive around a pickle and storages.
func torchArchive(pickle: [UInt8], storages: [String: [UInt8]] = [:], prefix: String = "archive") -> [UInt8] {
    var zip = ZipBuilder()
    zip.add(prefix + "/data.pkl", pickle)
    zip.add(prefix + "/byteorder", Array("little".utf8))
    for key in storages.keys.sorted() { zip.add(prefix + "/data/" + key, storages[key] ?? []) }
    zip.add(prefix + "/version", Array("3\n".utf8))
    return zip.build()
}

/// A one-tensor state dict `{"w": zeros(2, 2)}` whose pickle is `pickle` when given.
func tinyStateDict() -> [UInt8] {
    torchArchive(pickle: Pickle.stream(Pickle.dict([("w", Pickle.tensor(key: "0", numel: 4, size: [2, 2], stride: [2, 1]))])),
                 storages: ["0": [UInt8](repeating: 0, count: 16)])
}
