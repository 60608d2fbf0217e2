import CCMFormat
import Foundation
import XCTest

/// `TensorPages`: the pages a low-memory run releases between phases.
final class TensorPagesTests: XCTestCase {
    /// Three tensors of 20,000 floats (~78 KiB each) written one after another.
    func writeThree() throws -> ModelFile {
        let path = try makeTemporaryFolder(self) + "/pages.ccm"
        var w = ModelWriter(metadata: Metadata(), graphs: [], tokenizer: nil)
        for (i, name) in ["a", "b", "c"].enumerated() {
            w.add(TensorSource(name: name, shape: [20_000], floats: (0..<20_000).map { Float($0 + i) }))
        }
        try w.write(to: path)
        return try ModelFile.open(path: path)
    }

    func span(_ file: ModelFile, _ name: String) -> Range<Int> {
        let e = file.tensor(named: name)!
        return e.offset..<(e.offset + e.storedLength)
    }

    func testPagesAreWholeAndInsideTheTensorsAndNeverTouchKeptOnes() throws {
        let file = try writeThree()
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let pages = file.pages(ofTensors: ["a", "c"], keeping: ["b"])
        XCTAssertFalse(pages.ranges.isEmpty)
        for r in pages.ranges {
            XCTAssertEqual(r.lowerBound % page, 0)
            XCTAssertEqual(r.upperBound % page, 0)
            XCTAssertFalse(r.overlaps(span(file, "b")), "a released page holds the kept tensor b")
            XCTAssertTrue(span(file, "a").contains(r.lowerBound) || span(file, "c").contains(r.lowerBound))
        }
        // a and c are not adjacent (b sits between them): two ranges.
        XCTAssertEqual(pages.ranges.count, 2)
        // Adjacent a and b merge into one range covering the page boundary between them.
        let ab = file.pages(ofTensors: ["a", "b"])
        XCTAssertEqual(ab.ranges.count, 1)
        XCTAssertGreaterThan(ab.byteCount, 2 * 20_000 * 4 - 3 * page)
        // A tensor named in both sets, or unknown, is never released.
        XCTAssertEqual(file.pages(ofTensors: ["b", "nope"], keeping: ["b"]).byteCount, 0)
    }

    func testSplitCoversTheSamePages() throws {
        let file = try writeThree()
        let pages = file.pages(ofTensors: ["a", "b", "c"])
        for parts in [1, 2, 3, 7] {
            let pieces = pages.split(into: parts)
            XCTAssertLessThanOrEqual(pieces.count, parts)
            XCTAssertEqual(pieces.reduce(0) { $0 + $1.byteCount }, pages.byteCount)
            let flat = pieces.flatMap(\.ranges).sorted { $0.lowerBound < $1.lowerBound }
            for (x, y) in zip(flat, flat.dropFirst()) { XCTAssertLessThanOrEqual(x.upperBound, y.lowerBound) }
        }
    }

    /// Releasing pages loses nothing: the tensors read the same values afterwards, and after a
    /// populate; releasing twice is harmless.
    func testReleasedTensorsReadTheSameValues() throws {
        let file = try writeThree()
        let before = try ["a", "b", "c"].map { Array(try file.bytes(of: file.tensor(named: $0)!)) }
        let pages = file.pages(ofTensors: ["a", "b", "c"])
        file.release(pages)
        file.release(pages)
        XCTAssertEqual(try ["a", "b", "c"].map { Array(try file.bytes(of: file.tensor(named: $0)!)) }, before)
        file.release(pages)
        file.populate(pages)
        XCTAssertEqual(try ["a", "b", "c"].map { Array(try file.bytes(of: file.tensor(named: $0)!)) }, before)
    }
}
