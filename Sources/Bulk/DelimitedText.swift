/// CSV (RFC 4180) and TSV fields, the one place their quoting and escaping is defined, for
/// the writers and the manifest reader alike.
///
/// - CSV: a field holding a comma, a double quote, CR or LF is written in double quotes, with
///   each quote doubled (`a "b"` → `"a ""b"""`); readers (Python's csv, pandas, spreadsheets)
///   undo that.
/// - TSV: a field never holds a raw tab or line break; a backslash, tab, LF and CR are written
///   `\\`, `\t`, `\n`, `\r` (the "linear TSV" / PostgreSQL text convention), and read back the same way.
public enum DelimitedText {
    public enum Dialect: Sendable { case csv, tsv }

    /// One record as a line (without the line break).
    public static func line(_ fields: [String], _ dialect: Dialect) -> String {
        switch dialect {
        case .csv: return fields.map(csvField).joined(separator: ",")
        case .tsv: return fields.map(tsvField).joined(separator: "\t")
        }
    }

    public static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    public static func tsvField(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Undoes `tsvField` (an unknown escape such as `\x` is kept as written).
    public static func tsvUnescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = ""
        var escaped = false
        for scalar in s.unicodeScalars {
            if escaped {
                switch scalar {
                case "t": out += "\t"
                case "n": out += "\n"
                case "r": out += "\r"
                case "\\": out += "\\"
                default: out += "\\"; out.unicodeScalars.append(scalar)
                }
                escaped = false
            } else if scalar == "\\" {
                escaped = true
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        if escaped { out += "\\" }
        return out
    }

    /// Splits one TSV line into unescaped fields.
    public static func tsvFields(_ line: String) -> [String] {
        line.split(separator: "\t", omittingEmptySubsequences: false).map { tsvUnescape(String($0)) }
    }

    /// Reads CSV records from lines: a quoted field may span lines (`pendingLine` joins them).
    public struct CSVRecordReader {
        private var fields: [String] = []
        private var field = ""
        private var inQuotes = false
        private var started = false

        public init() {}

        /// Feeds one physical line (without its line break); returns the record when it ends here.
        public mutating func feed(_ line: String) -> [String]? {
            if inQuotes { field += "\n" }
            var chars = line.makeIterator()
            var pendingQuote = false
            while let c = chars.next() {
                if pendingQuote {
                    pendingQuote = false
                    if c == "\"" { field.append("\""); continue }
                    inQuotes = false
                }
                if inQuotes {
                    if c == "\"" { pendingQuote = true } else { field.append(c) }
                    continue
                }
                switch c {
                case "\"" where field.isEmpty && !started: inQuotes = true; started = true
                case ",": fields.append(field); field = ""; started = false
                default: field.append(c); started = true
                }
            }
            if pendingQuote { inQuotes = false }
            if inQuotes { return nil }
            fields.append(field)
            let record = fields
            fields = []; field = ""; started = false
            return record
        }

        /// Whether a quoted field is still open (the file ended inside quotes).
        public var isInsideQuotes: Bool { inQuotes }
    }
}
