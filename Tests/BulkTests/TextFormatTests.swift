@testable import BulkCaption
@testable import Engine
import XCTest

/// Brace patterns, CSV/TSV quoting and escaping.
final class TextFormatTests: XCTestCase {
    func testBraceRangesKeepTheirPaddingAndListsExpandInOrder() throws {
        XCTAssertEqual(try BraceExpansion.expand("s/{00008..00011}.tar"), ["s/00008.tar", "s/00009.tar", "s/00010.tar", "s/00011.tar"])
        XCTAssertEqual(try BraceExpansion.expand("{a,b}-{1..2}"), ["a-1", "a-2", "b-1", "b-2"])
        XCTAssertEqual(try BraceExpansion.expand("x{a,{b,c}}y"), ["xay", "xby", "xcy"])
        XCTAssertEqual(try BraceExpansion.expand("plain.tar"), ["plain.tar"])
        XCTAssertEqual(try BraceExpansion.expand("{9..10}"), ["9", "10"])
        XCTAssertThrowsError(try BraceExpansion.expand("s/{1..3.tar"))
        XCTAssertThrowsError(try BraceExpansion.expand("{5..1}"))
        XCTAssertThrowsError(try BraceExpansion.expand("{0..99999999}{0..99999999}"))
    }

    func testCSVQuotesOnlyWhatNeedsIt() {
        XCTAssertEqual(DelimitedText.line(["a", "b c", "d,e", "say \"hi\"", "two\nlines", ""], .csv),
                       "a,b c,\"d,e\",\"say \"\"hi\"\"\",\"two\nlines\",")
    }

    func testCSVReaderUndoesTheWriter() {
        let fields = ["plain", "with, comma", "with \"quotes\"", "multi\nline\nfield", "", "tail"]
        var reader = DelimitedText.CSVRecordReader()
        let lines = DelimitedText.line(fields, .csv).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var record: [String]?
        for line in lines { record = reader.feed(line) }
        XCTAssertEqual(record, fields)
        XCTAssertFalse(reader.isInsideQuotes)
    }

    func testTSVEscapesTabsNewlinesAndBackslashesAndReadsThemBack() {
        let fields = ["a\tb", "c\nd", "e\\f", "g\rh", "plain 中文"]
        let line = DelimitedText.line(fields, .tsv)
        XCTAssertFalse(line.contains("\n") || line.contains("\r"))
        XCTAssertEqual(line.split(separator: "\t", omittingEmptySubsequences: false).count, fields.count)
        XCTAssertEqual(line, "a\\tb\tc\\nd\te\\\\f\tg\\rh\tplain 中文")
        XCTAssertEqual(DelimitedText.tsvFields(line), fields)
    }

    func testRecordLinesHaveTheDocumentedKeysAndColumns() throws {
        let ok = BulkRecord(key: "k", file: "f,1.jpg", captions: [.init(text: "a\tcat", tokenIDs: [1, 2], score: -0.5)])
        let bad = BulkRecord(key: "k2", file: "f2.jpg", error: "f2.jpg: broken\nbadly")
        let object = try JSONSerialization.jsonObject(with: Data(RecordFormat.jsonl.line(ok, candidates: 1).utf8)) as? [String: Any]
        let keys: Set<String> = Set(object?.keys.map { $0 } ?? [])
        XCTAssertEqual(keys, ["key", "file", "status", "captions", "token_ids", "scores"])
        XCTAssertEqual(object?["status"] as? String, "ok")
        let failed = try JSONSerialization.jsonObject(with: Data(RecordFormat.jsonl.line(bad, candidates: 1).utf8)) as? [String: Any]
        XCTAssertEqual(failed?["status"] as? String, "error")
        XCTAssertEqual(failed?["error"] as? String, "f2.jpg: broken\nbadly")
        XCTAssertEqual(RecordFormat.tsv.header(candidates: 2), "key\tfile\tstatus\terror\tcaption\tscore\tcaption_2\tscore_2")
        XCTAssertEqual(RecordFormat.tsv.line(bad, candidates: 1), "k2\tf2.jpg\terror\tf2.jpg: broken\\nbadly\t\t")
        XCTAssertEqual(RecordFormat.csv.line(ok, candidates: 1), "k,\"f,1.jpg\",ok,,a\tcat,-0.5")
    }
}
