import CCMFormat
@testable import Engine
@testable import Tokenizers
import XCTest

/// Original ClipCap's rule (predict.py): a caption ends when the generated token id is the id of
/// '.', so a BPE token that merely contains '.' (e.g. `('./`) does not end it; stop strings
/// apply only when the file asks for them (`convert --stop-string`).
final class StopTokenTests: XCTestCase {
    private func config(kept: [Int64], stopStrings: [String]) throws -> PipelineConfig {
        var meta = Metadata()
        meta["clipcap.prefix_length"] = .int(4)
        meta["decoder.hidden_size"] = .int(8)
        meta["decoder.vocab_size"] = .int(258)
        meta["decoder.max_context"] = .int(16)
        meta["generation.stop_token_ids"] = .ints([0])
        meta["generation.kept_stop_token_ids"] = .ints(kept)
        meta["generation.stop_strings"] = .strings(stopStrings)
        return try PipelineConfig(metadata: meta, file: "test.ccm")
    }

    func testStopsOnTheIdOfTheFullStopOnly() throws {
        // <|endoftext|>, the 256 byte symbols (holding "." and "a"), then "('./".
        let symbols = ByteLevelAlphabet.symbols.map { String(Character($0)) }
        let vocabulary = ["<|endoftext|>"] + symbols + ["('./"]
        let tokenizer = try ByteLevelBPETokenizer(vocabulary: vocabulary, merges: [])
        let end = 0, stop = try XCTUnwrap(vocabulary.firstIndex(of: ".")), a = try XCTUnwrap(vocabulary.firstIndex(of: "a"))
        let containsStop = vocabulary.count - 1
        let byId = try config(kept: [Int64(stop)], stopStrings: [])
        XCTAssertTrue(Decoders.isStop(end, config: byId, tokenizer: tokenizer))
        XCTAssertTrue(Decoders.isStop(stop, config: byId, tokenizer: tokenizer))
        XCTAssertFalse(Decoders.isStop(containsStop, config: byId, tokenizer: tokenizer), "a token containing '.' is not the '.' token")
        XCTAssertFalse(Decoders.isStop(a, config: byId, tokenizer: tokenizer))
        // '.' stays in the caption text, <|endoftext|> does not.
        XCTAssertTrue(Decoders.keepsStopToken(stop, config: byId))
        XCTAssertFalse(Decoders.keepsStopToken(end, config: byId))

        let byString = try config(kept: [], stopStrings: ["."])
        XCTAssertTrue(Decoders.isStop(containsStop, config: byString, tokenizer: tokenizer), "stop-string mode, when asked")
        XCTAssertFalse(Decoders.isStop(a, config: byString, tokenizer: tokenizer))
    }
}
