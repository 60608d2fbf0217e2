import Foundation

/// A Hugging Face model folder: `config.json`, the weights (`model.safetensors`,
/// `pytorch_model.bin`, or shards listed by `*.index.json`) and whatever tokenizer files
/// sit next to them.
public struct HFModelFolder: Sendable {
    /// The folder.
    public let path: String
    /// `config.json`, parsed.
    public let config: JSONValue
    /// All tensors; for sharded weights, every shard in shard order.
    public let weights: CheckpointContents
    /// Names of the regular files in the folder, sorted (e.g. to find `vocab.json`, `merges.txt`).
    public let files: [String]

    /// Weight files looked for, best first: safetensors needs no unpickling.
    static let weightCandidates = ["model.safetensors", "model.safetensors.index.json",
                                   "pytorch_model.bin", "pytorch_model.bin.index.json"]

    /// Opens the folder at `path`, parses `config.json` and reads the weights' descriptions.
    public static func open(path: String, limits: ReaderLimits = .init()) throws -> HFModelFolder {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError.badModelFolder(path: path, reason: "it does not exist or is not a folder")
        }
        let folder = URL(fileURLWithPath: path)
        let names = try listFiles(folder)
        guard names.contains("config.json") else {
            throw CheckpointError.badModelFolder(path: path, reason: "config.json is missing; download it with the weights")
        }
        let config = try readJSON(folder.appendingPathComponent("config.json").path, limits: limits)
        guard case .object = config else {
            throw CheckpointError.badJSON(path: folder.appendingPathComponent("config.json").path, reason: "it is not a JSON object")
        }
        guard let weightsName = weightCandidates.first(where: names.contains) else {
            throw CheckpointError.badModelFolder(
                path: path, reason: "it has no weights (looked for \(weightCandidates.joined(separator: ", "))); download model.safetensors or pytorch_model.bin")
        }
        let weightsPath = folder.appendingPathComponent(weightsName).path
        let weights = weightsName.hasSuffix(".index.json")
            ? try ShardedCheckpoint.read(indexPath: weightsPath, folder: folder, limits: limits)
            : try CheckpointReader.read(path: weightsPath, limits: limits)
        return HFModelFolder(path: path, config: config, weights: weights, files: names)
    }

    private static func listFiles(_ folder: URL) throws -> [String] {
        do {
            let urls = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: [.isRegularFileKey])
            return urls.filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
                .map(\.lastPathComponent).sorted()
        } catch {
            throw CheckpointError.cannotOpen(path: folder.path, reason: "\(error)")
        }
    }

    static func readJSON(_ path: String, limits: ReaderLimits) throws -> JSONValue {
        let file = try MappedFile(path: path)
        guard file.size <= limits.maxJSONBytes else {
            throw CheckpointError.limitExceeded(path: path, what: "a JSON file of \(file.size) bytes", limit: limits.maxJSONBytes)
        }
        return try JSONValue.parse(try file.bytes(0..<file.size, what: "the JSON text"), path: path, maxDepth: limits.maxJSONDepth)
    }
}

/// Weights split across files, listed by `model.safetensors.index.json` or
/// `pytorch_model.bin.index.json` (`{"weight_map": {tensor: file}}`).
enum ShardedCheckpoint {
    static func read(indexPath: String, folder: URL, limits: ReaderLimits) throws -> CheckpointContents {
        let index = try HFModelFolder.readJSON(indexPath, limits: limits)
        guard case .object(let weightMap)? = index["weight_map"] else {
            throw CheckpointError.badModelFolder(path: indexPath, reason: "the index has no weight_map object")
        }
        var shardNames = Set<String>()
        for (tensor, value) in weightMap {
            guard let shard = value.stringValue, isPlainFileName(shard) else {
                throw CheckpointError.badModelFolder(path: indexPath, reason: "tensor \"\(tensor)\" maps to an invalid shard file name")
            }
            shardNames.insert(shard)
        }
        var tensors: [SourceTensor] = []
        var notes: [String] = []
        var kind = CheckpointKind.safetensors
        var seen = Set<String>()
        for shard in shardNames.sorted() {
            let shardPath = folder.appendingPathComponent(shard).path
            guard FileManager.default.fileExists(atPath: shardPath) else {
                throw CheckpointError.badModelFolder(path: indexPath, reason: "shard \(shard) is missing; download it")
            }
            let contents = try CheckpointReader.read(path: shardPath, limits: limits)
            kind = contents.kind
            notes += contents.notes.map { "\(shard): \($0)" }
            for tensor in contents.tensors {
                guard seen.insert(tensor.name).inserted else {
                    throw CheckpointError.badModelFolder(path: indexPath, reason: "tensor \"\(tensor.name)\" is stored in two shards")
                }
                if weightMap[tensor.name]?.stringValue != shard {
                    notes.append("\(shard) holds \(tensor.name), which the index does not list there")
                }
                tensors.append(tensor)
            }
        }
        if let missing = weightMap.keys.sorted().first(where: { !seen.contains($0) }) {
            throw CheckpointError.badModelFolder(
                path: indexPath, reason: "tensor \"\(missing)\" is listed in the index but not in shard \(weightMap[missing]?.stringValue ?? "?"); download the shards again")
        }
        notes.insert("\(shardNames.count) shards", at: 0)
        return CheckpointContents(path: indexPath, kind: kind, tensors: tensors, notes: notes)
    }

    /// A file name inside the folder: no separators, not `.` or `..`.
    private static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\\") && !name.contains("\0")
    }
}
