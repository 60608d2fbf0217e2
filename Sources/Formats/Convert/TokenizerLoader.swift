import CCMFormat
import Foundation

/// Reads the tokenizer files of the GPT-2 folder: `vocab.txt` (BERT WordPiece, the Chinese
/// GPT-2) or `vocab.json` + `merges.txt` (GPT-2 byte-level BPE), plus `tokenizer_config.json`.
enum TokenizerLoader {
    static func load(folder: String, config: JSONObject) throws -> TokenizerSpec {
        let fm = FileManager.default
        let vocabTxt = folder + "/vocab.txt", vocabJSON = folder + "/vocab.json", merges = folder + "/merges.txt"
        let settings = try JSONObject.load(folder + "/tokenizer_config.json", optional: true)
        let declared = (config.string("tokenizer_class") ?? settings.string("tokenizer_class") ?? "").lowercased()
        let hasBPE = fm.fileExists(atPath: vocabJSON) && fm.fileExists(atPath: merges)
        let hasWordPiece = fm.fileExists(atPath: vocabTxt)
        if hasWordPiece && (!hasBPE || declared.hasPrefix("bert")) {
            return try wordPiece(vocabTxt, settings: settings)
        }
        if hasBPE { return try bpe(vocab: vocabJSON, merges: merges, settings: settings) }
        throw ConvertError.tokenizer(path: folder,
            reason: "no tokenizer found: the GPT-2 folder needs vocab.txt (WordPiece) or vocab.json + merges.txt (byte-level BPE)")
    }

    private static func readText(_ path: String) throws -> String {
        guard let data = fm().contents(atPath: path) else {
            throw ConvertError.tokenizer(path: path, reason: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConvertError.tokenizer(path: path, reason: "not valid UTF-8 text")
        }
        return text
    }

    private static func fm() -> FileManager { FileManager.default }

    /// One token per line (BERT's `load_vocab`: the line without its newline is the token).
    static func wordPiece(_ path: String, settings: JSONObject) throws -> TokenizerSpec {
        var lines = try readText(path).components(separatedBy: "\n").map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
        if lines.last == "" { lines.removeLast() }
        guard !lines.isEmpty else { throw ConvertError.tokenizer(path: path, reason: "the vocabulary is empty") }
        var options = Metadata()
        options["do_lower_case"] = .bool(settings.bool("do_lower_case") ?? true)
        options["tokenize_chinese_chars"] = .bool(settings.bool("tokenize_chinese_chars") ?? true)
        if let strip = settings.bool("strip_accents") { options["strip_accents"] = .bool(strip) }
        options["unk_token"] = .string(settings.string("unk_token") ?? "[UNK]")
        options["sep_token"] = .string(settings.string("sep_token") ?? "[SEP]")
        options["cls_token"] = .string(settings.string("cls_token") ?? "[CLS]")
        options["pad_token"] = .string(settings.string("pad_token") ?? "[PAD]")
        options["continuing_subword_prefix"] = .string("##")
        options["max_input_chars_per_word"] = .int(100)
        return TokenizerSpec(kind: "wordpiece", vocab: lines, options: options)
    }

    /// `vocab.json` (token -> id, ids 0..<n) ordered by id, and `merges.txt` without its `#version` line.
    static func bpe(vocab: String, merges: String, settings: JSONObject) throws -> TokenizerSpec {
        let table = try JSONObject.load(vocab)
        var tokens = [String?](repeating: nil, count: table.values.count)
        for (token, value) in table.values {
            guard let id = (value as? NSNumber)?.intValue, id >= 0, id < tokens.count, tokens[id] == nil else {
                throw ConvertError.tokenizer(path: vocab, reason: "token ids must be distinct integers 0..<\(tokens.count); '\(token)' has \(value)")
            }
            tokens[id] = token
        }
        let ordered = tokens.compactMap { $0 }
        var mergeLines: [String] = []
        for line in try readText(merges).components(separatedBy: "\n") {
            let trimmed = line.hasSuffix("\r") ? String(line.dropLast()) : line
            if trimmed.isEmpty || trimmed.hasPrefix("#version") { continue }
            guard trimmed.split(separator: " ", omittingEmptySubsequences: false).count == 2 else {
                throw ConvertError.tokenizer(path: merges, reason: "merge line '\(trimmed)' is not two tokens separated by one space")
            }
            mergeLines.append(trimmed)
        }
        var options = Metadata()
        options["add_prefix_space"] = .bool(settings.bool("add_prefix_space") ?? false)
        options["unk_token"] = .string(settings.string("unk_token") ?? "<|endoftext|>")
        return TokenizerSpec(kind: "bpe", vocab: ordered, merges: mergeLines, options: options)
    }
}
