import CCMFormat

/// Builds the metadata block (docs/FORMAT.md, "Metadata keys the engine reads").
enum ModelMetadata {
    /// Version of the converter written into every file (`converter.version`).
    static let converterVersion = "clipcap-convert 1.0"

    static func architectureName(_ v: VisionHyperparameters, _ m: MapperInfo, _ g: GPT2Settings) -> String {
        let clip = visionName(v)
        let mapper: String
        switch m.mapping {
        case .mlp: mapper = "mlp(\(m.prefixLength))"
        case .bert: mapper = "bert(\(m.projectedLength)+\(m.prefixLength),l\(m.layers))"
        case .transformer: mapper = "transformer(\(m.projectedLength)+\(m.prefixLength),l\(m.layers))"
        }
        let gpt = (g.hidden, g.layers) == (768, 12) ? "gpt2" : "gpt2(\(g.layers)x\(g.hidden))"
        return "\(clip) + \(mapper) + \(gpt)"
    }

    /// OpenAI's name for the image tower when its sizes are one of the published ones.
    static func visionName(_ v: VisionHyperparameters) -> String {
        switch v.family {
        case .vit:
            let known: [String: String] = ["768/32/12/224": "clip-vit-b32", "768/16/12/224": "clip-vit-b16",
                                           "1024/14/24/224": "clip-vit-l14", "1024/14/24/336": "clip-vit-l14-336"]
            return known["\(v.width)/\(v.patchSize)/\(v.layers)/\(v.imageSize)"]
                ?? "clip-vit(w\(v.width),p\(v.patchSize),l\(v.layers),s\(v.imageSize))"
        case .resnet(let width, let blocks):
            let known: [String: String] = ["64/3,4,6,3/224": "clip-rn50", "64/3,4,23,3/224": "clip-rn101",
                                           "80/4,6,10,6/288": "clip-rn50x4", "96/6,8,18,8/384": "clip-rn50x16",
                                           "128/3,15,36,10/448": "clip-rn50x64"]
            let stages = blocks.map(String.init).joined(separator: ",")
            return known["\(width)/\(stages)/\(v.imageSize)"] ?? "clip-resnet(w\(width),b\(stages),s\(v.imageSize))"
        }
    }

    static func build(vision v: VisionHyperparameters, mapper m: MapperInfo, gpt2 g: GPT2Settings,
                      tokenizer: TokenizerSpec, options: ConvertOptions, sources: [(role: String, file: String, sha256: String)],
                      quantization: String = "none") -> Metadata {
        var meta = Metadata()
        meta["clipcap.architecture"] = .string(architectureName(v, m, g))
        meta["clipcap.mapping"] = .string(m.mapping.rawValue)
        meta["clipcap.prefix_length"] = .int(Int64(m.prefixLength))
        meta["clipcap.normalize_prefix"] = .bool(options.normalizePrefix)
        meta["image.size"] = .int(Int64(v.imageSize))
        meta["image.mean"] = .floats(v.mean)
        meta["image.std"] = .floats(v.std)
        meta["image.resize"] = .string("shorter_side_bicubic")
        meta["image.embedding_size"] = .int(Int64(v.embedDim))
        meta["decoder.max_context"] = .int(Int64(g.positions))
        meta["decoder.hidden_size"] = .int(Int64(g.hidden))
        meta["decoder.vocab_size"] = .int(Int64(g.vocab))
        meta["decoder.layers"] = .int(Int64(g.layers))
        meta["decoder.heads"] = .int(Int64(g.heads))
        meta["tokenizer.kind"] = .string(tokenizer.kind)
        let ids = Dictionary(tokenizer.vocab.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        if tokenizer.kind == "wordpiece" {
            // ClipCap-Chinese: captions end in [SEP]; [UNK] is never generated; characters join with no space.
            meta["generation.stop_token_ids"] = .ints(ids["[SEP]"].map { [Int64($0)] } ?? [])
            meta["generation.stop_strings"] = .strings([])
            meta["generation.banned_token_ids"] = .ints(ids["[UNK]"].map { [Int64($0)] } ?? [])
            meta["generation.join"] = .string("")
        } else {
            // Original ClipCap (predict.py): stops when the generated token id is the id of '.'
            // (kept in the text), and at <|endoftext|> when the vocabulary has it (not kept).
            // Stop strings only when asked (--stop-string).
            meta["generation.stop_token_ids"] = .ints(ids["<|endoftext|>"].map { [Int64($0)] } ?? [])
            meta["generation.kept_stop_token_ids"] = .ints(ids["."].map { [Int64($0)] } ?? [])
            meta["generation.stop_strings"] = .strings(options.stopStrings)
            meta["generation.banned_token_ids"] = .ints([])
            meta["generation.join"] = .string("bpe")
        }
        for source in sources {
            meta["source.\(source.role).file"] = .string(source.file)
            meta["source.\(source.role).sha256"] = .string(source.sha256)
        }
        meta["converter.version"] = .string(converterVersion)
        meta["converter.dtype"] = .string(options.dtypeName)
        meta["quantization.scheme"] = .string(quantization)
        return meta
    }
}
