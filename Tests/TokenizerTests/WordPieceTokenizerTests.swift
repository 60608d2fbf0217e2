import Foundation
import XCTest
import Tokenizers

/// One case of wordpiece_cases.json (written by tools/make_tokenizer_fixtures.py).
private struct WordPieceCase: Decodable {
    let source: String
    let text: String
    let ids: [Int]
    let seed_join: String
    let decoded: String
    let hf_rust_ids: [Int]?
}

private struct WordPieceFixture: Decodable {
    let cases: [WordPieceCase]
}

final class WordPieceTokenizerTests: XCTestCase {
    private static let loaded: Result<WordPieceTokenizer, Error> = Result {
        try WordPieceTokenizer.load(vocabFile: Fixtures.path("vocab.txt"))
    }

    private func tokenizer() throws -> WordPieceTokenizer { try Self.loaded.get() }

    private func cases() throws -> [WordPieceCase] {
        try Fixtures.decode(WordPieceFixture.self, from: "wordpiece_cases.json").cases
    }

    func testChineseVocabularyLayout() throws {
        let tok = try tokenizer()
        XCTAssertEqual(tok.vocabularySize, 21128)
        XCTAssertEqual(tok.id(for: "[PAD]"), 0)
        XCTAssertEqual(tok.id(for: "[UNK]"), 100)
        XCTAssertEqual(tok.id(for: "[CLS]"), 101)
        XCTAssertEqual(tok.id(for: "[SEP]"), 102)
        XCTAssertEqual(tok.token(for: 102), "[SEP]")
        XCTAssertNil(tok.token(for: 21128))
        XCTAssertNil(tok.token(for: -1))
    }

    /// Our ids equal the HF Python BertTokenizer's for every reference caption and tricky string.
    func testEncodeMatchesHuggingFace() throws {
        let tok = try tokenizer()
        let all = try cases()
        XCTAssertGreaterThan(all.filter { $0.source == "reference" }.count, 400)
        for item in all {
            XCTAssertEqual(tok.encode(item.text), item.ids, "text \(item.text.debugDescription)")
        }
    }

    /// Decoding the ids gives back exactly the text the seed wrote, for every reference caption.
    func testDecodeReproducesSeedCaptions() throws {
        let tok = try tokenizer()
        for item in try cases() where item.source == "reference" {
            XCTAssertSameScalars(tok.decode(item.ids), item.text, "reference caption")
            XCTAssertSameScalars(item.seed_join, item.text, "fixture: seed join")
        }
    }

    /// For every case, decode follows the documented rule (checked in Python independently).
    func testDecodeFollowsDocumentedRule() throws {
        let tok = try tokenizer()
        for item in try cases() {
            XCTAssertSameScalars(tok.decode(item.ids), item.decoded, "ids \(item.ids)")
        }
    }

    func testDecodeSkipsSpecialTokensAndStripsContinuationPrefix() throws {
        let tok = try tokenizer()
        let ids = [101] + tok.encode("一个人在iphone12上") + [102, 0, 0]
        XCTAssertEqual(tok.decode(ids), "一个人在iphone12上")
        XCTAssertEqual(tok.decode([100, 21128, -5, 671]), "[UNK]一")
        XCTAssertEqual(tok.decode([]), "")
    }

    func testSmallVocabularyRules() throws {
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "a", "##b", ",", "é"]
        let tok = try WordPieceTokenizer(vocabulary: vocab)
        XCTAssertEqual(tok.encode("Unaffable, ab"), [4, 5, 6, 9, 7, 8])
        XCTAssertEqual(tok.encode("unaffablex"), [1])
        let cased = try WordPieceTokenizer(vocabulary: vocab, doLowerCase: false)
        XCTAssertEqual(cased.encode("é e\u{301}"), [10, 10], "NFC before lookup when not lower-casing")
        XCTAssertEqual(cased.encode("Un"), [1])
        let short = try WordPieceTokenizer(vocabulary: vocab, maxCharsPerWord: 3)
        XCTAssertEqual(short.encode("una"), [1])
    }

    func testMalformedVocabularyArrays() {
        XCTAssertThrowsError(try WordPieceTokenizer(vocabulary: [])) {
            XCTAssertEqual($0 as? TokenizerError, .emptyVocabulary(file: TokenizerError.inMemory))
        }
        XCTAssertThrowsError(try WordPieceTokenizer(vocabulary: ["[UNK]", "a", "a"])) {
            XCTAssertEqual($0 as? TokenizerError,
                           .duplicateToken(file: TokenizerError.inMemory, line: 3, token: "a", firstLine: 2))
        }
        XCTAssertThrowsError(try WordPieceTokenizer(vocabulary: ["a", "b"])) {
            guard case .missingToken(_, "[UNK]", _)? = $0 as? TokenizerError else {
                return XCTFail("unexpected \($0)")
            }
        }
        // Canonically equivalent but different code points are different tokens, as in Python.
        XCTAssertNoThrow(try WordPieceTokenizer(vocabulary: ["[UNK]", "é", "e\u{301}"]))
    }

    func testMalformedVocabularyFiles() throws {
        let scratch = try ScratchFolder()
        let empty = try scratch.write("empty.txt", "")
        XCTAssertThrowsError(try WordPieceTokenizer.load(vocabFile: empty)) {
            XCTAssertEqual($0 as? TokenizerError, .emptyVocabulary(file: empty))
        }
        let duplicate = try scratch.write("dup.txt", "[PAD]\n[UNK]\n的\n是\n的\n")
        XCTAssertThrowsError(try WordPieceTokenizer.load(vocabFile: duplicate)) {
            XCTAssertEqual($0 as? TokenizerError,
                           .duplicateToken(file: duplicate, line: 5, token: "的", firstLine: 3))
            XCTAssertTrue(String(describing: $0).contains("dup.txt:5"))
        }
        let invalid = try scratch.write("bad.txt", Array("[UNK]\nok\n".utf8) + [0xE4, 0xB8, 0x0A])
        XCTAssertThrowsError(try WordPieceTokenizer.load(vocabFile: invalid)) {
            XCTAssertEqual($0 as? TokenizerError, .invalidUTF8(file: invalid, line: 3))
        }
        let blank = try scratch.write("blank.txt", "[UNK]\n\nx\n")
        XCTAssertThrowsError(try WordPieceTokenizer.load(vocabFile: blank)) {
            XCTAssertEqual($0 as? TokenizerError, .emptyToken(file: blank, line: 2))
        }
        let missing = scratch.url.appendingPathComponent("nope.txt").path
        XCTAssertThrowsError(try WordPieceTokenizer.load(vocabFile: missing)) {
            XCTAssertEqual(($0 as? TokenizerError)?.file, missing)
        }
        let crlf = try scratch.write("crlf.txt", "\u{FEFF}[PAD]\r\n[UNK]\r\nab")
        let tok = try WordPieceTokenizer.load(vocabFile: crlf)
        XCTAssertEqual(tok.vocabularySize, 3)
        XCTAssertEqual(tok.encode("AB"), [2])
    }

    /// Long inputs stay linear-ish: a 20k-letter word is one [UNK]; long captions round-trip.
    func testLongInputs() throws {
        let tok = try tokenizer()
        XCTAssertEqual(tok.encode(String(repeating: "a", count: 20_000)), [100])
        let caption = String(repeating: "一个人在草地上看日落，", count: 500)
        let ids = tok.encode(caption)
        XCTAssertEqual(ids.count, caption.unicodeScalars.count)
        XCTAssertSameScalars(tok.decode(ids), caption)
    }

    /// Prints figures; asserts nothing about time.
    func testEncodeDecodeSpeedFigures() throws {
        let tok = try tokenizer()
        let texts = try cases().filter { $0.source == "reference" }.map(\.text)
        let start = Date()
        var count = 0
        for _ in 0..<5 {
            for text in texts { count += tok.encode(text).count }
        }
        let encodeTime = Date().timeIntervalSince(start) / Double(texts.count * 5)
        let ids = texts.map { tok.encode($0) }
        let decodeStart = Date()
        for _ in 0..<5 { for list in ids { count += tok.decode(list).utf8.count } }
        let decodeTime = Date().timeIntervalSince(decodeStart) / Double(ids.count * 5)
        print(String(format: "WordPiece: %.1f µs encode, %.1f µs decode per caption (%d)",
                     encodeTime * 1e6, decodeTime * 1e6, count))
    }
}
