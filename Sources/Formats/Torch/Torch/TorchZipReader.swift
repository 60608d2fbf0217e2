import Foundation
import CCMFormat

/// Reads `torch.save` (torch >= 1.6) and `torch.jit.save` zip archives:
/// `<prefix>/data.pkl` (the pickled object), `<prefix>/data/<key>` (one stored entry per
/// storage), `<prefix>/byteorder` and `<prefix>/version`; TorchScript archives add
/// `constants.pkl` and `code/`, which are never read (nothing in them is executed).
/// The prefix folder is whatever single top-level folder holds `data.pkl` (`archive`, the
/// file's stem, `ViT-B-32`, ...).
enum TorchZipReader {
    static func read(file: MappedFile, limits: ReaderLimits) throws -> CheckpointContents {
        let path = file.path
        let archive = try ZipArchive(file: file, limits: limits)
        let prefix = try findPrefix(archive, path: path)
        let isTorchScript = archive.entry(named: prefix + "constants.pkl") != nil
            || archive.entries.contains { $0.name.hasPrefix(prefix + "code/") }
        var notes: [String] = []

        let bigEndian = try readByteOrder(archive, prefix: prefix)
        if bigEndian { notes.append("big-endian checkpoint: elements are byte-swapped when read") }

        guard let pickleEntry = archive.entry(named: prefix + "data.pkl") else {
            throw CheckpointError.missingEntry(path: path, name: prefix + "data.pkl")
        }
        let pickle = try archive.read(pickleEntry, limit: limits.maxPickleBytes)
        let storages = StorageResolver(archive: archive, prefix: prefix)

        let collector: TensorCollector = try Unpickler.load(pickle, path: path, limits: limits,
                                                            persistentLoad: storages.load) { root in
            var collector = TensorCollector(path: path, limits: limits)
            try collector.collect(root)
            return collector
        }

        var tensors: [SourceTensor] = []
        tensors.reserveCapacity(collector.found.count)
        var converted: [String] = []
        for (name, ref) in collector.found {
            let element = ref.storage.element
            if element.needsConversion || element == .bool { converted.append("\(name) (\(element.rawValue) -> \(element.dtype))") }
            tensors.append(SourceTensor(
                name: name, dtype: element.dtype, shape: ref.shape,
                source: TensorSource(file: file, storage: ref.storage.bytes, element: element, offset: ref.offset,
                                     shape: ref.shape, strides: ref.strides, bigEndian: bigEndian)))
        }
        if collector.skippedValues > 0 { notes.append("skipped \(collector.skippedValues) non-tensor entries") }
        if !collector.duplicateNames.isEmpty {
            notes.append("kept the first of several tensors named: " + collector.duplicateNames.prefix(10).joined(separator: ", "))
        }
        if !converted.isEmpty { notes.append("converted on read: " + converted.prefix(10).joined(separator: ", ")) }
        if isTorchScript { notes.append("TorchScript archive: code/ and constants.pkl were not read") }
        return CheckpointContents(path: path, kind: isTorchScript ? .torchScript : .torchZip,
                                  tensors: tensors, notes: notes)
    }

    /// The one top-level folder that holds `data.pkl`, with its trailing slash.
    private static func findPrefix(_ archive: ZipArchive, path: String) throws -> String {
        let candidates = archive.entries.compactMap { entry -> String? in
            let parts = entry.name.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, parts[1] == "data.pkl", !parts[0].isEmpty else { return nil }
            return String(parts[0]) + "/"
        }
        guard let prefix = candidates.first else {
            if archive.entry(named: "data.pkl") != nil { return "" }
            throw CheckpointError.missingEntry(path: path, name: "<folder>/data.pkl (this zip is not a PyTorch checkpoint)")
        }
        guard candidates.count == 1 else {
            throw CheckpointError.corruptZip(path: path, reason: "it holds several checkpoints (\(candidates.joined(separator: ", ")))")
        }
        return prefix
    }

    /// True for big-endian files; files without `byteorder` predate it and are little-endian.
    private static func readByteOrder(_ archive: ZipArchive, prefix: String) throws -> Bool {
        guard let entry = archive.entry(named: prefix + "byteorder") else { return false }
        let value = String(decoding: try archive.read(entry, limit: 64), as: UTF8.self)
        switch value.trimmingCharacters(in: .whitespacesAndNewlines) {
        case "little": return false
        case "big": return true
        default:
            throw CheckpointError.corruptZip(path: archive.file.path, reason: "byteorder says \"\(printable(value.prefix(20)))\" instead of little or big")
        }
    }
}

/// Resolves persistent ids `('storage', <StorageType>, key, location, numel)` to
/// `<prefix>/data/<key>` and checks the entry holds exactly `numel` elements.
final class StorageResolver {
    private let archive: ZipArchive
    private let prefix: String
    private var resolved: [String: StorageRef] = [:]

    init(archive: ZipArchive, prefix: String) {
        self.archive = archive
        self.prefix = prefix
    }

    func load(_ pid: PickleValue) throws -> PickleValue {
        let path = archive.file.path
        guard case .tuple(let fields, _) = pid, fields.count == 5,
              case .string("storage") = fields[0],
              case .string(let key) = fields[2], case .int(let numel) = fields[4]
        else { throw CheckpointError.badPickle(path: path, offset: 0, reason: "a persistent id is not ('storage', type, key, location, numel)") }
        guard case .global(.storageType(let element)) = fields[1] else {
            throw CheckpointError.badPickle(path: path, offset: 0, reason: "storage \(key) has type \(fields[1].kindName)")
        }
        if let known = resolved[key] {
            guard known.element == element, Int64(known.count) == numel else {
                throw CheckpointError.badTensor(path: path, tensor: "storage \(key)", reason: "it is declared twice with different types or sizes")
            }
            return .storage(known)
        }
        let name = prefix + "data/" + key
        guard let entry = archive.entry(named: name) else { throw CheckpointError.missingEntry(path: path, name: name) }
        let bytes = try archive.storedRange(of: entry)
        let (expected, overflow) = Int(clamping: numel).multipliedReportingOverflow(by: element.size)
        guard numel >= 0, !overflow, expected == bytes.count else {
            throw CheckpointError.badTensor(path: path, tensor: "storage \(key)",
                                            reason: "it should hold \(numel) \(element.rawValue) elements but its entry has \(bytes.count) bytes")
        }
        let storage = StorageRef(key: key, element: element, count: Int(numel), bytes: bytes)
        resolved[key] = storage
        return .storage(storage)
    }
}

/// `text` with anything but printable ASCII replaced by `?`, for quoting file bytes in messages.
func printable<S: StringProtocol>(_ text: S) -> String {
    String(text.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" })
}
