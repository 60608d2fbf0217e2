import Engine
import Foundation

/// One output line of a bulk run: an input and its captions, or why it has none.
public struct BulkRecord: Sendable {
    public var key: String
    public var file: String
    /// The captions, best first; empty on failure.
    public var captions: [Caption]
    /// Nil when captioned; else the message (naming the file).
    public var error: String?

    public var isOK: Bool { error == nil }

    public init(key: String, file: String, captions: [Caption] = [], error: String? = nil) {
        self.key = key
        self.file = file
        self.captions = captions
        self.error = error
    }
}

/// How records are written: JSON lines, CSV, TSV, or the caption command's plain text.
public enum RecordFormat: String, Sendable, CaseIterable {
    case jsonl, csv, tsv
    /// `file<TAB>caption[<TAB>caption...]`, the default of `caption` without `--format`.
    case text

    /// The header line, if the format has one.
    public func header(candidates: Int) -> String? {
        switch self {
        case .jsonl, .text: return nil
        case .csv, .tsv: return DelimitedText.line(Self.columns(candidates: candidates), self == .csv ? .csv : .tsv)
        }
    }

    /// CSV/TSV columns: key, file, status, error, then caption and score for each candidate
    /// (`caption`, `score`, then `caption_2`, `score_2`...).
    static func columns(candidates: Int) -> [String] {
        var names = ["key", "file", "status", "error", "caption", "score"]
        if candidates > 1 { for k in 2...candidates { names += ["caption_\(k)", "score_\(k)"] } }
        return names
    }

    /// One record as one line (without the line break). `candidates` fixes the CSV/TSV width.
    public func line(_ r: BulkRecord, candidates: Int) -> String {
        switch self {
        case .jsonl:
            var object: [String: Any] = [
                "key": r.key, "file": r.file, "status": r.isOK ? "ok" : "error",
                "captions": r.captions.map(\.text), "token_ids": r.captions.map(\.tokenIDs), "scores": r.captions.map(\.score),
            ]
            if let error = r.error { object["error"] = error }
            return Self.json(object)
        case .csv, .tsv:
            var fields = [r.key, r.file, r.isOK ? "ok" : "error", r.error ?? ""]
            for k in 0..<max(candidates, 1) {
                if k < r.captions.count { fields += [r.captions[k].text, "\(r.captions[k].score)"] } else { fields += ["", ""] }
            }
            return DelimitedText.line(fields, self == .csv ? .csv : .tsv)
        case .text:
            return ([r.file] + r.captions.map(\.text)).joined(separator: "\t")
        }
    }

    /// Compact JSON, keys sorted (the same bytes for the same record on every run).
    public static func json(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
