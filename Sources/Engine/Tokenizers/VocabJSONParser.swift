/// Reads a GPT-2 `vocab.json`: one JSON object mapping token strings to integer ids.
///
/// A dedicated parser rather than `JSONSerialization` so that errors carry a line and
/// column, duplicate keys are caught (a JSON library silently keeps one of them), and keys
/// keep their exact code points.
struct VocabJSONParser {
    /// One `"token": id` member of the object.
    struct Entry {
        let token: String
        let id: Int
        let line: Int
    }

    private let bytes: [UInt8]
    private let file: String
    private var position = 0
    private var line = 1
    private var lineStart = 0

    /// Largest id accepted; far above any real vocabulary, low enough to never overflow.
    static let maximumID = 999_999_999

    init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    /// The members in file order.
    mutating func parse() throws -> [Entry] {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
        skipWhitespace()
        try expect(UInt8(ascii: "{"), "expected '{' at the start of the object")
        var entries: [Entry] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            position += 1
        } else {
            while true {
                skipWhitespace()
                let entryLine = line
                guard peek() == UInt8(ascii: "\"") else { throw failure("expected a token string") }
                let token = try parseString()
                skipWhitespace()
                try expect(UInt8(ascii: ":"), "expected ':' after the token string")
                skipWhitespace()
                let id = try parseID()
                entries.append(Entry(token: token, id: id, line: entryLine))
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    position += 1
                } else if peek() == UInt8(ascii: "}") {
                    position += 1
                    break
                } else {
                    throw failure("expected ',' or '}' after an id")
                }
            }
        }
        skipWhitespace()
        guard position == bytes.count else { throw failure("unexpected text after the closing '}'") }
        return entries
    }

    private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    private func failure(_ problem: String) -> TokenizerError {
        .malformedJSON(file: file, line: line, column: position - lineStart + 1, problem: problem)
    }

    private mutating func expect(_ byte: UInt8, _ problem: String) throws {
        guard peek() == byte else { throw failure(problem) }
        position += 1
    }

    private mutating func skipWhitespace() {
        while let byte = peek() {
            switch byte {
            case 0x20, 0x09, 0x0D:
                position += 1
            case 0x0A:
                position += 1
                line += 1
                lineStart = position
            default:
                return
            }
        }
    }

    /// A JSON string starting at the opening quote, with all escapes, as exact code points.
    private mutating func parseString() throws -> String {
        position += 1
        var utf8: [UInt8] = []
        while true {
            guard let byte = peek() else { throw failure("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                guard let text = String(validating: utf8, as: UTF8.self) else {
                    throw TokenizerError.invalidUTF8(file: file, line: line)
                }
                return text
            case UInt8(ascii: "\\"):
                position += 1
                try appendEscape(to: &utf8)
            case 0..<0x20:
                throw failure("control character inside a string (must be escaped)")
            default:
                utf8.append(byte)
                position += 1
            }
        }
    }

    private mutating func appendEscape(to utf8: inout [UInt8]) throws {
        guard let byte = peek() else { throw failure("unterminated escape") }
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
            utf8.append(byte)
            return
        case UInt8(ascii: "b"): utf8.append(0x08); return
        case UInt8(ascii: "f"): utf8.append(0x0C); return
        case UInt8(ascii: "n"): utf8.append(0x0A); return
        case UInt8(ascii: "r"): utf8.append(0x0D); return
        case UInt8(ascii: "t"): utf8.append(0x09); return
        default: break
        }
        guard byte == UInt8(ascii: "u") else { throw failure("unknown escape '\\\(Unicode.Scalar(byte))'") }
        var value = try parseHex4()
        if (0xD800...0xDBFF).contains(value) {
            guard peek() == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") else {
                throw failure("unpaired surrogate \\u\(String(value, radix: 16)) cannot be part of a token")
            }
            position += 2
            let low = try parseHex4()
            guard (0xDC00...0xDFFF).contains(low) else {
                throw failure("unpaired surrogate \\u\(String(value, radix: 16)) cannot be part of a token")
            }
            value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(value) else {
            throw failure("unpaired surrogate \\u\(String(value, radix: 16)) cannot be part of a token")
        }
        utf8.append(contentsOf: String(Character(scalar)).utf8)
    }

    private mutating func parseHex4() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek(), let digit = Self.hexValue(byte) else {
                throw failure("expected four hexadecimal digits after \\u")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// A non-negative integer id (no sign, fraction or exponent).
    private mutating func parseID() throws -> Int {
        if peek() == UInt8(ascii: "-") { throw failure("ids must be non-negative integers") }
        var value = 0
        var digits = 0
        while let byte = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
            position += 1
            if value > Self.maximumID { throw failure("id is larger than \(Self.maximumID)") }
        }
        guard digits > 0 else { throw failure("expected an integer id") }
        if let byte = peek(), byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            throw failure("ids must be integers, not fractions")
        }
        return value
    }
}
