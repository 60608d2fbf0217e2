import CCMFormat

/// What the engine reads from a model file's metadata to run the captioning pipeline.
/// Nothing here names an architecture: sizes, ids and rules only.
public struct PipelineConfig: Sendable {
    public var imageSize: Int
    public var mean: [Float]
    public var std: [Float]
    public var prefixLength: Int
    public var hiddenSize: Int
    public var vocabSize: Int
    public var maxContext: Int
    public var stopTokenIDs: Set<Int>
    /// Ids that end a caption and stay in its text (`.` in original ClipCap).
    public var keptStopTokenIDs: Set<Int> = []
    public var stopStrings: [String]
    public var bannedTokenIDs: [Int]
    public var architecture: String

    /// Reads and validates the keys; errors name the file and the key.
    public init(metadata m: Metadata, file: String) throws {
        func int(_ key: String, default d: Int? = nil) throws -> Int {
            if let v = m[key]?.intValue { return v }
            if let d { return d }
            throw ExecutorError.badMetadata(file: file, key: key, detail: "is missing or not an integer")
        }
        func floats(_ key: String, default d: [Float]) throws -> [Float] {
            guard let v = m[key] else { return d }
            guard let a = v.doublesValue, a.count == 3 else {
                throw ExecutorError.badMetadata(file: file, key: key, detail: "must be 3 numbers")
            }
            return a.map { Float($0) }
        }
        imageSize = try int("image.size", default: 224)
        mean = try floats("image.mean", default: [0.48145466, 0.4578275, 0.40821073])
        std = try floats("image.std", default: [0.26862954, 0.26130258, 0.27577711])
        prefixLength = try int("clipcap.prefix_length")
        hiddenSize = try int("decoder.hidden_size")
        vocabSize = try int("decoder.vocab_size")
        maxContext = try int("decoder.max_context")
        stopTokenIDs = Set(m["generation.stop_token_ids"]?.intsValue ?? [])
        keptStopTokenIDs = Set(m["generation.kept_stop_token_ids"]?.intsValue ?? [])
        stopStrings = m["generation.stop_strings"]?.stringsValue ?? []
        bannedTokenIDs = m["generation.banned_token_ids"]?.intsValue ?? []
        architecture = m["clipcap.architecture"]?.stringValue ?? "unknown"
        guard (16...4096).contains(imageSize) else {
            throw ExecutorError.badMetadata(file: file, key: "image.size", detail: "is \(imageSize), outside 16...4096")
        }
        guard std.allSatisfy({ $0 > 0 }) else {
            throw ExecutorError.badMetadata(file: file, key: "image.std", detail: "must be positive")
        }
        guard prefixLength > 0, prefixLength < maxContext, hiddenSize > 0, vocabSize > 0, maxContext <= 1 << 20 else {
            throw ExecutorError.badMetadata(file: file, key: "clipcap.prefix_length", detail: "(\(prefixLength)) must be in 1..<decoder.max_context (\(maxContext))")
        }
    }
}
