import Foundation
import XCTest
import Tokenizers

/// Broken vocab.json / merges.txt files give a TokenizerError naming the file and line.
final class MalformedBPEFilesTests: XCTestCase {
    /// A valid byte-level vocabulary: the 256 byte symbols, then "ab" and "<|endoftext|>".
    private static let byteSymbols: [String] = {
        var symbols: [String] = []
        var next: UInt32 = 256
        for byte in 0..<256 {
            let itself = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            let scalar = itself ? Unicode.Scalar(UInt8(byte)) : Unicode.Scalar(next)!
            if !itself { next += 1 }
            symbols.append(String(Character(scalar)))
        }
        return symbols
    }()

    private static let tokens = byteSymbols + ["ab", "\u{120}a", "<|endoftext|>"]

    /// JSON text of `entries`, one member per line (line k + 1 holds entry k).
    private static func json(_ entries: [(String, String)]) -> String {
        var text = "{\n"
        for (index, (key, value)) in entries.enumerated() {
            let escaped = key.unicodeScalars.map { scalar -> String in
                switch scalar {
                case "\"": return "\\\""
                case "\\": return "\\\\"
                default: return scalar.value < 0x20 ? String(format: "\\u%04x", scalar.value) : String(scalar)
                }
            }.joined()
            text += "\"\(escaped)\": \(value)\(index + 1 < entries.count ? "," : "")\n"
        }
        return text + "}\n"
    }

    private static var validEntries: [(String, String)] { tokens.enumerated().map { ($0.element, String($0.offset)) } }

    private func load(vocab: String, merges: String = "#version: 0.2\na b\n\u{120} a\n",
                      _ check: (TokenizerError, String, String) -> Void) throws {
        let scratch = try ScratchFolder()
        let vocabPath = try scratch.write("vocab.json", vocab)
        let mergesPath = try scratch.write("merges.txt", merges)
        XCTAssertThrowsError(try ByteLevelBPETokenizer.load(vocabJSON: vocabPath, mergesFile: mergesPath)) { error in
            guard let error = error as? TokenizerError else { return XCTFail("not a TokenizerError: \(error)") }
            XCTAssertTrue(error.description.contains(error.file), error.description)
            check(error, vocabPath, mergesPath)
        }
    }

    func testValidFilesLoad() throws {
        let scratch = try ScratchFolder()
        let tok = try ByteLevelBPETokenizer.load(
            vocabJSON: try scratch.write("vocab.json", Self.json(Self.validEntries)),
            mergesFile: try scratch.write("merges.txt", "#version: 0.2\na b\n\u{120} a\n"))
        XCTAssertEqual(tok.vocabularySize, 259)
        XCTAssertEqual(tok.encode("ab a"), [256, 257])
        XCTAssertEqual(tok.decode([256, 257, 258]), "ab a")
    }

    func testEmptyAndNonObjectVocabulary() throws {
        try load(vocab: "") { error, vocab, _ in
            guard case .malformedJSON(vocab, 1, 1, _) = error else { return XCTFail("\(error)") }
        }
        try load(vocab: "{}") { error, vocab, _ in XCTAssertEqual(error, .emptyVocabulary(file: vocab)) }
        try load(vocab: "[\"a\", \"b\"]") { error, _, _ in
            guard case .malformedJSON(_, 1, 1, _) = error else { return XCTFail("\(error)") }
        }
        try load(vocab: "{\n\"a\": 0,\n\"b\": \"1\"\n}") { error, _, _ in
            guard case .malformedJSON(_, 3, 6, _) = error else { return XCTFail("\(error)") }
        }
        try load(vocab: "{\n\"a\": 0,\n\"b\": 1.5\n}") { error, _, _ in
            guard case .malformedJSON(_, 3, _, _) = error else { return XCTFail("\(error)") }
        }
        try load(vocab: "{\n\"a\": -1\n}") { error, _, _ in
            guard case .malformedJSON(_, 2, _, _) = error else { return XCTFail("\(error)") }
        }
        try load(vocab: "{\"a\": 0} trailing") { error, _, _ in
            guard case .malformedJSON(_, 1, 10, _) = error else { return XCTFail("\(error)") }
        }
        try load(vocab: "{\"\\ud800\": 0}") { error, _, _ in
            guard case .malformedJSON(_, 1, _, _) = error else { return XCTFail("\(error)") }
        }
    }

    func testInvalidUTF8InVocabulary() throws {
        let scratch = try ScratchFolder()
        let vocab = try scratch.write("vocab.json", Array("{\n\"a\": 0,\n\"".utf8) + [0xC3, 0x28] + Array("\": 1\n}".utf8))
        let merges = try scratch.write("merges.txt", "")
        XCTAssertThrowsError(try ByteLevelBPETokenizer.load(vocabJSON: vocab, mergesFile: merges)) {
            XCTAssertEqual($0 as? TokenizerError, .invalidUTF8(file: vocab, line: 3))
        }
    }

    func testDuplicateTokensAndIDs() throws {
        var entries = Self.validEntries
        entries.append(("ab", "259"))
        try load(vocab: Self.json(entries)) { error, vocab, _ in
            XCTAssertEqual(error, .duplicateToken(file: vocab, line: 261, token: "ab", firstLine: 258))
        }
        entries = Self.validEntries
        entries[257].1 = "256"
        try load(vocab: Self.json(entries)) { error, vocab, _ in
            XCTAssertEqual(error, .duplicateID(file: vocab, line: 259, id: 256, token: "\u{120}a", otherToken: "ab"))
        }
    }

    func testIDHoles() throws {
        var entries = Self.validEntries
        entries[258].1 = "300"
        try load(vocab: Self.json(entries)) { error, vocab, _ in
            XCTAssertEqual(error, .idHole(file: vocab, line: 260, missingID: 258, largestID: 300, count: 259))
        }
    }

    func testMissingByteSymbol() throws {
        let entries = Array(Self.validEntries.dropFirst()).enumerated().map { ($0.element.0, String($0.offset)) }
        try load(vocab: Self.json(entries), merges: "") { error, _, _ in
            // Byte 0x00 is the first byte without a printable self: it is written "Ā" (U+0100).
            guard case .missingToken(_, "\u{100}", _) = error else { return XCTFail("\(error)") }
        }
    }

    func testMalformedMerges() throws {
        let vocab = Self.json(Self.validEntries)
        try load(vocab: vocab, merges: "#version: 0.2\na b\nab\n") { error, _, merges in
            XCTAssertEqual(error, .malformedMerge(file: merges, line: 3, text: "ab"))
        }
        try load(vocab: vocab, merges: "a  b\n") { error, _, merges in
            XCTAssertEqual(error, .malformedMerge(file: merges, line: 1, text: "a  b"))
        }
        try load(vocab: vocab, merges: "#version: 0.2\na b\n\nb a\n") { error, _, merges in
            XCTAssertEqual(error, .malformedMerge(file: merges, line: 3, text: ""))
        }
        try load(vocab: vocab, merges: "#version: 0.2\nq zz\n") { error, _, merges in
            XCTAssertEqual(error, .unknownMergeToken(file: merges, line: 2, token: "zz"))
        }
        try load(vocab: vocab, merges: "#version: 0.2\nb a\n") { error, _, merges in
            XCTAssertEqual(error, .unknownMergeToken(file: merges, line: 2, token: "ba"))
        }
        try load(vocab: vocab, merges: "#version: 0.2\na b\n\u{120} a\na b\n") { error, _, merges in
            XCTAssertEqual(error, .duplicateMerge(file: merges, line: 4, merge: "a b", firstLine: 2))
        }
    }

    func testInvalidUTF8InMerges() throws {
        let scratch = try ScratchFolder()
        let vocab = try scratch.write("vocab.json", Self.json(Self.validEntries))
        let merges = try scratch.write("merges.txt", Array("#version: 0.2\na b\n".utf8) + [0xFF, 0x20, 0x61, 0x0A])
        XCTAssertThrowsError(try ByteLevelBPETokenizer.load(vocabJSON: vocab, mergesFile: merges)) {
            XCTAssertEqual($0 as? TokenizerError, .invalidUTF8(file: merges, line: 3))
        }
    }

    func testInMemoryErrorsAreNumberedEntries() {
        XCTAssertThrowsError(try ByteLevelBPETokenizer(vocabulary: Self.tokens, merges: ["a b", "x"])) {
            XCTAssertEqual($0 as? TokenizerError, .malformedMerge(file: TokenizerError.inMemory, line: 2, text: "x"))
        }
        XCTAssertThrowsError(try ByteLevelBPETokenizer(vocabulary: [], merges: [])) {
            XCTAssertEqual($0 as? TokenizerError, .emptyVocabulary(file: TokenizerError.inMemory))
        }
        XCTAssertNoThrow(try ByteLevelBPETokenizer(vocabulary: Self.tokens, merges: ["#version: 0.2", "a b"]))
    }

    func testJSONEscapesAreDecoded() throws {
        var text = Self.json(Self.validEntries)
        text = text.replacingOccurrences(of: "\"ab\": 256", with: "\"\\u0061b\": 256")
        text = text.replacingOccurrences(of: "\"\u{120}a\": 257", with: "\"\\u0120\\u0061\": 257")
        XCTAssertTrue(text.contains("\\u0061b"))
        let scratch = try ScratchFolder()
        let tok = try ByteLevelBPETokenizer.load(
            vocabJSON: try scratch.write("vocab.json", text),
            mergesFile: try scratch.write("merges.txt", "#version: 0.2\na b\n\u{120} a\n"))
        XCTAssertEqual(tok.id(for: "ab"), 256)
        XCTAssertEqual(tok.encode("ab a"), [256, 257])
    }

    /// Random corruptions of a valid vocab.json either load or throw; they never crash or hang.
    func testCorruptedVocabularyNeverCrashes() throws {
        let scratch = try ScratchFolder()
        let valid = Array(Self.json(Self.validEntries).utf8)
        let merges = try scratch.write("merges.txt", "#version: 0.2\na b\n")
        var generator = SystemRandomNumberGenerator()
        let interesting: [UInt8] = Array("{}[]:,\"\\u0123456789-.eE \n".utf8) + [0x00, 0x80, 0xC3, 0xFF]
        for round in 0..<150 {
            var bytes = valid
            for _ in 0..<(1 + round % 4) {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[index] = interesting.randomElement(using: &generator)!
                case 1: bytes.remove(at: index)
                default: bytes = Array(bytes[..<index])
                }
                if bytes.isEmpty { break }
            }
            let path = try scratch.write("vocab-\(round).json", bytes)
            do {
                _ = try ByteLevelBPETokenizer.load(vocabJSON: path, mergesFile: merges)
            } catch let error as TokenizerError {
                XCTAssertEqual(error.file == path || error.file == merges, true, "\(error)")
            }
        }
    }
}
