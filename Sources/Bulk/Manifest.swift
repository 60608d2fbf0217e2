import Foundation

/// Which columns of a manifest hold the image path and the key (`--path-column`, `--key-column`).
public struct ManifestColumns: Sendable, Equatable {
    /// The path column; nil: the first of `pathCandidates` the header has.
    public var path: String?
    /// The key column; nil: `key` when the header has it, else the path is the key.
    public var key: String?

    public init(path: String? = nil, key: String? = nil) {
        self.path = path
        self.key = key
    }

    /// Names tried, in order, when no path column is given.
    public static let pathCandidates = ["path", "file", "filepath", "file_path", "image", "image_path", "filename"]
}

/// Reads a manifest row by row: `.txt` (one path per line), `.tsv` / `.csv` (a header row,
/// then records; see `DelimitedText` for quoting) or `.jsonl` (one JSON object per line).
/// Relative paths are taken relative to the manifest's folder, so a dataset folder with its
/// manifest can be moved or mounted anywhere. Blank lines are skipped.
final class ManifestReader {
    enum Kind: String { case txt, tsv, csv, jsonl }

    private let reader: LineReader
    private let kind: Kind
    private let folder: String
    private var pathIndex = 0
    private var keyIndex: Int?
    private var pathName = ""
    private var keyName: String?
    private var csv = DelimitedText.CSVRecordReader()

    static func kind(of path: String) -> Kind? { Kind(rawValue: (path as NSString).pathExtension.lowercased()) }

    init(path: String, columns: ManifestColumns) throws {
        guard let kind = Self.kind(of: path) else { throw BulkInputError("\(path): not a manifest (.txt, .tsv, .csv or .jsonl)") }
        self.kind = kind
        reader = try LineReader(path: path)
        folder = (path as NSString).deletingLastPathComponent
        switch kind {
        case .txt:
            if columns.path != nil || columns.key != nil {
                throw BulkInputError("\(path): a .txt manifest has no columns (one path per line); --path-column and --key-column need a .tsv, .csv or .jsonl manifest")
            }
        case .jsonl:
            pathName = columns.path ?? ""
            keyName = columns.key
            // Without a given column, the first object's names decide (see `jsonColumns`).
        case .tsv, .csv:
            var header: [String]?
            while header == nil, let line = try reader.next() {
                if line.isEmpty { continue }
                header = kind == .tsv ? DelimitedText.tsvFields(line) : csv.feed(line)
            }
            guard let header else { throw BulkInputError("\(path): the manifest is empty; it needs a header row naming its columns (e.g. path,key)") }
            if let given = columns.path {
                guard let i = header.firstIndex(of: given) else {
                    throw BulkInputError("\(path): no column '\(given)' (--path-column) in the header (\(header.joined(separator: ", ")))")
                }
                pathIndex = i
            } else {
                guard let i = header.firstIndex(where: { ManifestColumns.pathCandidates.contains($0) }) else {
                    throw BulkInputError("\(path): no path column in the header (\(header.joined(separator: ", "))); name it with --path-column")
                }
                pathIndex = i
            }
            pathName = header[pathIndex]
            if let given = columns.key {
                guard let i = header.firstIndex(of: given) else {
                    throw BulkInputError("\(path): no column '\(given)' (--key-column) in the header (\(header.joined(separator: ", ")))")
                }
                keyIndex = i
            } else {
                keyIndex = header.firstIndex(of: "key")
            }
        }
        self.manifestPath = path
    }

    private let manifestPath: String
    var path: String { manifestPath }

    /// The next row as an item, or nil at the end of the manifest.
    func next() throws -> BulkItem? {
        while let line = try reader.next() {
            let row = reader.lineNumber
            switch kind {
            case .txt:
                if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                return item(path: line, key: nil, row: row)
            case .tsv:
                if line.isEmpty { continue }
                let fields = DelimitedText.tsvFields(line)
                return item(fields: fields, row: row)
            case .csv:
                if line.isEmpty && !csv.isInsideQuotes { continue }
                guard let fields = csv.feed(line) else { continue }
                return item(fields: fields, row: row)
            case .jsonl:
                if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                return try jsonItem(line, row: row)
            }
        }
        if csv.isInsideQuotes { throw BulkInputError("\(manifestPath): the file ends inside a quoted field (a missing closing \")") }
        return nil
    }

    private func item(fields: [String], row: Int) -> BulkItem {
        guard pathIndex < fields.count, !fields[pathIndex].isEmpty else {
            return failure(row: row, "has no '\(pathName)' value")
        }
        let key = keyIndex.flatMap { $0 < fields.count && !fields[$0].isEmpty ? fields[$0] : nil }
        return item(path: fields[pathIndex], key: key, row: row)
    }

    private func jsonItem(_ line: String, row: Int) throws -> BulkItem {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
            return failure(row: row, "is not a JSON object")
        }
        if pathName.isEmpty {
            guard let name = ManifestColumns.pathCandidates.first(where: { object[$0] != nil }) else {
                return failure(row: row, "has none of the path names \(ManifestColumns.pathCandidates.joined(separator: ", ")); name it with --path-column")
            }
            pathName = name
        }
        guard let path = object[pathName] as? String, !path.isEmpty else {
            return failure(row: row, "has no string '\(pathName)'")
        }
        let keyValue = object[keyName ?? "key"]
        let key = (keyValue as? String) ?? (keyValue as? NSNumber).map { "\($0)" }
        return item(path: path, key: key, row: row)
    }

    private func item(path: String, key: String?, row: Int) -> BulkItem {
        let resolved = path.hasPrefix("/") || folder.isEmpty ? path : folder + "/" + path
        return BulkItem(key: key ?? path, file: resolved, payload: .image(.file(path: resolved)))
    }

    private func failure(row: Int, _ what: String) -> BulkItem {
        let name = "\(manifestPath):\(row)"
        return BulkItem(key: name, file: name, payload: .failure("\(manifestPath): row \(row) \(what)"))
    }
}
