/// Expands WebDataset-style brace patterns: `shards/{00000..00099}.tar` (numeric ranges keep
/// the zero padding of their first bound) and `{a,b,c}` lists, nested and repeated, left to
/// right in the order written, as webdataset and bash do. Text without braces is returned as is.
public enum BraceExpansion {
    /// Most names one pattern may expand to (a typo such as `{0..99999999}` is an error).
    public static let limit = 10_000_000

    public static func expand(_ pattern: String) throws -> [String] {
        let chars = Array(pattern)
        guard let open = chars.firstIndex(of: "{") else { return [pattern] }
        var depth = 0
        var close: Int?
        for i in open..<chars.count {
            if chars[i] == "{" { depth += 1 }
            if chars[i] == "}" { depth -= 1; if depth == 0 { close = i; break } }
        }
        guard let close else { throw BulkInputError("\(pattern): unbalanced '{' in the brace pattern") }
        let prefix = String(chars[..<open])
        let body = String(chars[(open + 1)..<close])
        let rest = try expand(String(chars[(close + 1)...]))
        var heads: [String] = []
        if let range = try numericRange(body, pattern: pattern) {
            heads = range
        } else {
            for alternative in splitTopLevel(body) { heads += try expand(alternative) }
        }
        guard heads.count.multipliedReportingOverflow(by: rest.count).partialValue <= limit else {
            throw BulkInputError("\(pattern): expands to more than \(limit) names")
        }
        var out: [String] = []
        out.reserveCapacity(heads.count * rest.count)
        for head in heads { for tail in rest { out.append(prefix + head + tail) } }
        return out
    }

    /// `00000..00099` as zero-padded numbers, or nil when `body` is not a numeric range.
    private static func numericRange(_ body: String, pattern: String) throws -> [String]? {
        let parts = body.components(separatedBy: "..")
        guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]),
              parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else { return nil }
        guard low <= high else { throw BulkInputError("\(pattern): the range {\(body)} runs backwards") }
        guard high - low < limit else { throw BulkInputError("\(pattern): expands to more than \(limit) names") }
        let width = parts[0].hasPrefix("0") ? parts[0].count : 0
        return (low...high).map { n in
            let digits = String(n)
            return digits.count < width ? String(repeating: "0", count: width - digits.count) + digits : digits
        }
    }

    /// Splits `a,{b,c},d` at the commas outside nested braces.
    private static func splitTopLevel(_ body: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        for c in body {
            if c == "{" { depth += 1 }
            if c == "}" { depth -= 1 }
            if c == "," && depth == 0 { parts.append(current); current = ""; continue }
            current.append(c)
        }
        parts.append(current)
        return parts
    }
}
