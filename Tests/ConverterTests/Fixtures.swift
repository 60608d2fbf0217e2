import CCMFormat
import Foundation
@testable import ModelConverter

/// Paths to the committed fixtures (Tests/Fixtures/models, made by tools/make_fixtures.py)
/// and helpers shared by the converter tests.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models").path

    static func path(_ relative: String) -> String { root + "/" + relative }

    static let clipJIT = path("clip/ViT-tiny-jit.pt")
    static let clipStateDict = path("clip/ViT-tiny-state-dict.pt")
    static let clipHFFolder = path("clip/hf-vision")
    static let clipHFSafetensors = path("clip/hf-vision/model.safetensors")

    /// The manifest written by tools/make_fixtures.py.
    static var manifest: [String: Any] {
        guard let data = FileManager.default.contents(atPath: path("MANIFEST.json")),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return object
    }

    struct Layout {
        var key: String
        var checkpoint: String
        var gpt2: String
        var bert: String?
        var mapping: String
        var normalizePrefix: Bool
        var prefixLength: Int
        var vocabSize: Int
        var stopTokenIDs: [Int]
        var bannedTokenIDs: [Int]
        /// Expected `.ccm` tensor name -> (shape, sha256 of f32 little-endian bytes, first values).
        var tensors: [String: (shape: [Int], sha256: String, first: [Float])]
    }

    static func layout(_ key: String) -> Layout? {
        guard let layouts = manifest["layouts"] as? [String: Any], let l = layouts[key] as? [String: Any] else { return nil }
        var tensors: [String: (shape: [Int], sha256: String, first: [Float])] = [:]
        for (name, value) in (l["tensors"] as? [String: Any]) ?? [:] {
            guard let record = value as? [String: Any] else { continue }
            tensors[name] = ((record["shape"] as? [Int]) ?? [], (record["sha256"] as? String) ?? "",
                             ((record["first"] as? [Double]) ?? []).map { Float($0) })
        }
        return Layout(key: key, checkpoint: path((l["checkpoint"] as? String) ?? ""), gpt2: path((l["gpt2"] as? String) ?? ""),
                      bert: (l["bert"] as? String).map(path), mapping: (l["mapping"] as? String) ?? "",
                      normalizePrefix: (l["normalize_prefix"] as? Bool) ?? false,
                      prefixLength: (l["prefix_length"] as? Int) ?? 0, vocabSize: (l["vocab_size"] as? Int) ?? 0,
                      stopTokenIDs: (l["stop_token_ids"] as? [Int]) ?? [], bannedTokenIDs: (l["banned_token_ids"] as? [Int]) ?? [],
                      tensors: tensors)
    }

    static let layoutKeys = ["zh-mlp", "zh-bert", "en-mlp", "en-transformer"]

    /// A fresh temporary folder for outputs.
    static func temporaryFolder() throws -> String {
        let dir = NSTemporaryDirectory() + "clipcap-convert-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func options(_ layout: Layout, clip: String = clipJIT, output: String, dtype: DType = .f32,
                        encoding: TensorEncoding = .raw) -> ConvertOptions {
        ConvertOptions(clipPath: clip, checkpointPath: layout.checkpoint, gpt2Folder: layout.gpt2, bertFolder: layout.bert,
                       normalizePrefix: layout.normalizePrefix, dtype: dtype, encoding: encoding, outputPath: output)
    }

    /// The decoded bytes of a tensor of an open model file, copied out.
    static func bytes(_ file: ModelFile, _ name: String) throws -> [UInt8]? {
        guard let entry = file.tensor(named: name) else { return nil }
        return Array(try file.bytes(of: entry))
    }
}
