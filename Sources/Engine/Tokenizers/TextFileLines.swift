import Foundation

/// Reads a UTF-8 text file as numbered lines, validating each line.
enum TextFileLines {
    struct Line {
        let number: Int
        let text: String
    }

    /// All lines of `path`. A trailing "\r" is dropped from each line, a final empty line after
    /// the last "\n" is not a line, and a leading byte-order mark is skipped.
    static func read(_ path: String) throws -> [Line] {
        let bytes = try readBytes(path)
        var lines: [Line] = []
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var number = 1
        while start < bytes.count {
            let newline = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            var end = newline
            if end > start, bytes[end - 1] == 0x0D { end -= 1 }
            guard let text = String(validating: bytes[start..<end], as: UTF8.self) else {
                throw TokenizerError.invalidUTF8(file: path, line: number)
            }
            lines.append(Line(number: number, text: text))
            start = newline + 1
            number += 1
        }
        return lines
    }

    /// The whole file, or `TokenizerError.unreadableFile`.
    static func readBytes(_ path: String) throws -> [UInt8] {
        do {
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw TokenizerError.unreadableFile(file: path, reason: error.localizedDescription)
        }
    }
}
