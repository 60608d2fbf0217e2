import Foundation
import XCTest
import Tokenizers

/// bpe_cases.json (written by tools/make_tokenizer_fixtures.py from GPT2Tokenizer).
private struct BPEFixture: Decodable {
    struct EncodeCase: Decodable {
        let text: String
        let ids: [Int]
        let tokens: [String]
        let decoded: String
    }
    struct DecodeCase: Decodable {
        let ids: [Int]
        let decoded: String
    }
    let vocab_size: Int
    let merges_count: Int
    let cases: [EncodeCase]
    let decodes: [DecodeCase]
}

final class ByteLevelBPETokenizerTests: XCTestCase {
    private static let loaded: Result<ByteLevelBPETokenizer, Error> = Result {
        try ByteLevelBPETokenizer.load(vocabJSON: Fixtures.path("bpe/vocab.json"),
                                       mergesFile: Fixtures.path("bpe/merges.txt"))
    }

    private func tokenizer() throws -> ByteLevelBPETokenizer { try Self.loaded.get() }

    private func fixture() throws -> BPEFixture { try Fixtures.decode(BPEFixture.self, from: "bpe_cases.json") }

    func testEncodeMatchesGPT2Tokenizer() throws {
        let tok = try tokenizer()
        let fixture = try fixture()
        XCTAssertEqual(tok.vocabularySize, fixture.vocab_size)
        XCTAssertGreaterThan(fixture.cases.count, 20)
        for item in fixture.cases {
            let ids = tok.encode(item.text)
            XCTAssertEqual(ids, item.ids, "text \(item.text.debugDescription)")
            XCTAssertEqual(ids.map { tok.token(for: $0) ?? "?" }, item.tokens)
        }
        // A second pass is served from the word cache and must agree.
        for item in fixture.cases { XCTAssertEqual(tok.encode(item.text), item.ids) }
    }

    func testDecodeMatchesGPT2TokenizerAndRoundTrips() throws {
        let tok = try tokenizer()
        for item in try fixture().cases {
            XCTAssertSameScalars(tok.decode(item.ids), item.decoded, "ids \(item.ids)")
            if !item.text.contains(ByteLevelBPETokenizer.endOfText) {
                XCTAssertSameScalars(tok.decode(tok.encode(item.text)), item.text, "round trip")
            }
        }
    }

    /// Arbitrary ids, including sequences that cut multi-byte characters, decode exactly as
    /// HF's decoder does (invalid UTF-8 -> U+FFFD by maximal subparts).
    func testDecodeOfArbitraryIDs() throws {
        let tok = try tokenizer()
        for item in try fixture().decodes {
            XCTAssertSameScalars(tok.decode(item.ids), item.decoded, "ids \(item.ids)")
        }
    }

    func testDecodeNeverCrashes() throws {
        let tok = try tokenizer()
        var generator = SystemRandomNumberGenerator()
        for length in 0..<200 {
            let ids = (0..<length).map { _ in Int.random(in: -3...(tok.vocabularySize + 3), using: &generator) }
            _ = tok.decode(ids)
        }
        XCTAssertEqual(tok.decode([Int.min, Int.max, -1, tok.vocabularySize]), "")
    }

    func testByteAlphabetAndSpecialToken() throws {
        let tok = try tokenizer()
        let space = try XCTUnwrap(tok.id(for: "\u{120}"))  // "Ġ" stands for byte 0x20
        XCTAssertEqual(tok.decode([space]), " ")
        let newline = try XCTUnwrap(tok.id(for: "\u{10A}"))
        XCTAssertEqual(tok.decode([newline]), "\n")
        let eot = try XCTUnwrap(tok.id(for: ByteLevelBPETokenizer.endOfText))
        XCTAssertEqual(tok.encode("<|endoftext|>"), [eot])
        XCTAssertEqual(tok.decode(tok.encode("a<|endoftext|>b")), "ab")
    }

    func testCopiesShareStateAcrossThreads() throws {
        let tok = try tokenizer()
        let texts = try fixture().cases.map(\.text)
        let expected = texts.map { tok.encode($0) }
        DispatchQueue.concurrentPerform(iterations: 8) { round in
            let copy = tok
            for (index, text) in texts.enumerated() where (index + round) % 2 == 0 {
                XCTAssertEqual(copy.encode(text), expected[index])
            }
        }
    }

    func testLongInputsRoundTrip() throws {
        let tok = try tokenizer()
        let text = String(repeating: "A man rides a horse on the beach. ", count: 300)
            + String(repeating: "x", count: 5_000) + String(repeating: " ", count: 3_000) + "end"
        XCTAssertSameScalars(tok.decode(tok.encode(text)), text)
    }

    /// Prints figures; asserts nothing about time.
    func testEncodeDecodeSpeedFigures() throws {
        let tok = try tokenizer()
        let texts = try fixture().cases.map(\.text)
        var total = 0
        let start = Date()
        for _ in 0..<20 { for text in texts { total += tok.encode(text).count } }
        let encode = Date().timeIntervalSince(start) / Double(20 * texts.count)
        let lists = texts.map { tok.encode($0) }
        let decodeStart = Date()
        for _ in 0..<20 { for ids in lists { total += tok.decode(ids).utf8.count } }
        let decode = Date().timeIntervalSince(decodeStart) / Double(20 * lists.count)
        print(String(format: "Byte-level BPE: %.1f µs encode (cached), %.1f µs decode per text (%d)",
                     encode * 1e6, decode * 1e6, total))
    }
}
