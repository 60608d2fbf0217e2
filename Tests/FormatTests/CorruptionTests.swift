import XCTest
@testable import CCMFormat
import TestSupport

/// One test per corruption class: each gives its own typed error and a message naming the file.
final class CorruptionTests: XCTestCase {
    private var folder = ""
    private var valid: [UInt8] = []

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
        valid = try readBytes(try SampleModel.write(in: folder, name: "valid.ccm"))
    }

    /// Writes `bytes` as a file and returns the error opening it gives.
    private func error(of bytes: [UInt8], name: String = "bad.ccm", options: OpenOptions = .init(),
                       file: StaticString = #filePath, line: UInt = #line) throws -> ModelFileError? {
        let path = folder + "/" + name
        try writeBytes(bytes, to: path)
        let e = openError(path, options: options, file: file, line: line)
        if let e { XCTAssertTrue(e.description.contains(path), "message names the file: \(e)", file: file, line: line) }
        return e
    }

    private func flipped(_ offset: Int) -> [UInt8] {
        var b = valid
        b[offset] ^= 0x5A
        return b
    }

    private var surgery: FileSurgery { FileSurgery(bytes: valid) }

    // MARK: truncation

    func testTruncatedAtEverySectionBoundary() throws {
        var cuts = [1, 7, 8, 40, 63, 64]
        for s in surgery.sections { cuts += [s.offset, s.offset + s.length, s.offset + 1] }
        cuts.append(surgery.tableOffset)
        cuts.append(valid.count - 1)
        for cut in Set(cuts) where cut < valid.count {
            guard case .truncated(_, let expected, let actual)? = try error(of: Array(valid[0..<cut])) else {
                XCTFail("cut at \(cut) not reported as truncated"); continue
            }
            XCTAssertEqual(actual, cut)
            XCTAssertTrue(expected == valid.count || cut < 64, "cut \(cut): expected \(expected)")
        }
    }

    func testTruncatedAtRandomOffsets() throws {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<30 {
            let cut = Int.random(in: 1..<valid.count, using: &rng)
            guard case .truncated? = try error(of: Array(valid[0..<cut])) else { XCTFail("cut at \(cut)"); continue }
        }
        let message = try XCTUnwrap(try error(of: Array(valid[0..<1000]))).description
        XCTAssertTrue(message.contains("truncated") && message.contains("fetch it again"), message)
    }

    func testTrailingBytes() throws {
        guard case .trailingBytes? = try error(of: valid + [0, 0, 0]) else { return XCTFail() }
    }

    // MARK: flipped bytes, caught by checksums

    func testFlippedByteInHeader() throws {
        for offset in [20, 24, 33, 41, 50, 61] {
            XCTAssertEqual(try error(of: flipped(offset)), .checksumMismatch(path: folder + "/bad.ccm", region: "header"), "byte \(offset)")
        }
    }

    func testFlippedByteInSectionTable() throws {
        let t = surgery.tableOffset
        for offset in [t, t + 9, t + 32 * surgery.sectionCount - 1] {
            XCTAssertEqual(try error(of: flipped(offset)), .checksumMismatch(path: folder + "/bad.ccm", region: "section table"))
        }
    }

    func testFlippedByteInEachTableSection() throws {
        for (kind, region) in [(SectionKind.metadata, "metadata section"), (.tensorTable, "tensor table section"),
                               (.graphs, "graphs section"), (.tokenizer, "tokenizer section")] {
            let s = surgery.section(kind)
            for offset in [s.offset, s.offset + s.length / 2, s.offset + s.length - 1] {
                XCTAssertEqual(try error(of: flipped(offset)), .checksumMismatch(path: folder + "/bad.ccm", region: region), "\(kind) @\(offset)")
            }
        }
    }

    func testFlippedByteInTensorDataIsCaughtByVerifyAndFirstUse() throws {
        let file0 = try ModelFile.open(path: folder + "/valid.ccm")
        for name in ["f32.0.matrix", "f32.1.matrix", "bf16.2.matrix"] {
            let entry = try XCTUnwrap(file0.tensor(named: name))
            let path = folder + "/data-\(name).ccm"
            var bytes = valid
            bytes[entry.offset + entry.storedLength / 2] ^= 0x01
            try writeBytes(bytes, to: path)

            let file = try ModelFile.open(path: path)   // open does not read tensor pages
            let problems = file.verify()
            XCTAssertEqual(problems.count, 1, "\(problems)")
            guard case .tensorChecksumMismatch(_, let tensor, _, _)? = problems.first?.error else { return XCTFail("\(problems)") }
            XCTAssertEqual(tensor, name)
            XCTAssertTrue(problems[0].description.contains(name))

            let checked = try ModelFile.open(path: path, options: OpenOptions(verifyTensorChecksumsOnFirstUse: true))
            XCTAssertThrowsError(try checked.bytes(of: entry)) { e in
                guard case .tensorChecksumMismatch? = e as? ModelFileError else { return XCTFail("\(e)") }
            }
            XCTAssertNoThrow(try checked.bytes(of: try XCTUnwrap(checked.tensor(named: "i32.0.matrix"))))
        }
    }

    func testWrongTensorChecksumInTable() throws {
        var s = surgery
        try s.rewriteTensors { entries in
            entries.map { e in e.name != "u8.0.matrix" ? e : TensorEntry(name: e.name, dtype: e.dtype, shape: e.shape, layout: e.layout,
                encoding: e.encoding, offset: e.offset, storedLength: e.storedLength, byteCount: e.byteCount,
                checksum: e.checksum ^ 1, quantization: e.quantization, index: e.index) }
        }
        let path = folder + "/crc.ccm"
        try writeBytes(s.bytes, to: path)
        let problems = try ModelFile.open(path: path).verify()
        XCTAssertEqual(problems.map(\.subject), ["tensor 'u8.0.matrix'"])
    }

    // MARK: header fields

    func testBadMagic() throws {
        var b = valid
        b[1] = UInt8(ascii: "X")
        XCTAssertEqual(try error(of: b), .badMagic(path: folder + "/bad.ccm"))
        XCTAssertEqual(try error(of: Array("just some text, not a model at all\n".utf8)), .badMagic(path: folder + "/bad.ccm"))
    }

    func testFutureVersion() throws {
        var s = surgery
        s.setU32(2, at: 8)
        s.resign()
        let e = try error(of: s.bytes)
        XCTAssertEqual(e, .unsupportedVersion(path: folder + "/bad.ccm", found: 2, supported: 1))
        XCTAssertTrue(e?.description.contains("update clipcap") ?? false)
    }

    func testBigEndianByteOrderMark() throws {
        var s = surgery
        s.setU32(0x0403_0201, at: 12)
        s.resign()
        XCTAssertEqual(try error(of: s.bytes), .wrongByteOrder(path: folder + "/bad.ccm"))
    }

    // MARK: structure (checksums re-signed, so only the structural checks can catch these)

    func testSectionOutOfBounds() throws {
        var s = surgery
        s.setU64(UInt64(valid.count), at: s.section(.graphs).entry + 16)   // length past the end
        s.resign()
        guard case .outOfBounds(_, let what)? = try error(of: s.bytes) else { return XCTFail() }
        XCTAssertTrue(what.contains("graphs section"), what)
    }

    func testSectionTableOutOfBounds() throws {
        var s = surgery
        s.setU64(UInt64(valid.count - 16), at: 24)
        s.resign()
        guard case .outOfBounds(_, let what)? = try error(of: s.bytes) else { return XCTFail() }
        XCTAssertTrue(what.contains("section table"), what)
    }

    func testOverlappingSections() throws {
        var s = surgery
        let meta = s.section(.metadata), graphs = s.section(.graphs)
        s.setU64(UInt64(meta.offset), at: graphs.entry + 8)
        s.setU64(UInt64(min(graphs.length, meta.length)), at: graphs.entry + 16)
        s.resign()
        guard case .overlap? = try error(of: s.bytes) else { return XCTFail() }
    }

    func testMissingRequiredSectionAndDuplicateSection() throws {
        var s = surgery
        s.setU32(SectionKind.tensorTable.rawValue, at: s.section(.metadata).entry)   // two tensor tables, no metadata
        s.resign()
        guard case .badSectionTable(_, let reason)? = try error(of: s.bytes) else { return XCTFail() }
        XCTAssertTrue(reason.contains("twice") || reason.contains("missing"), reason)
    }

    func testTensorOffsetOutOfBounds() throws {
        var s = surgery
        try s.rewriteTensors { $0.map { e in e.name != "i64.0.matrix" ? e : self.moved(e, to: self.valid.count * 4) } }
        let e = try error(of: s.bytes)
        guard case .outOfBounds(_, let what)? = e else { return XCTFail("\(String(describing: e))") }
        XCTAssertTrue(what.contains("i64.0.matrix"), what)
    }

    func testOverlappingTensors() throws {
        var s = surgery
        let first = try ModelFile.open(path: folder + "/valid.ccm").tensors[0]
        try s.rewriteTensors { $0.map { e in e.name != "f32.1.matrix" ? e : self.moved(e, to: first.offset) } }
        guard case .overlap(_, let a, let b)? = try error(of: s.bytes) else { return XCTFail() }
        XCTAssertTrue([a, b].contains("tensor 'f32.1.matrix'"), "\(a) \(b)")
    }

    func testMisalignedTensor() throws {
        var s = surgery
        try s.rewriteTensors { $0.map { e in e.name != "f16.0.matrix" ? e : self.moved(e, to: e.offset + 8) } }
        XCTAssertEqual(try error(of: s.bytes), .misaligned(path: folder + "/bad.ccm", tensor: "f16.0.matrix",
                                                          offset: try ModelFile.open(path: folder + "/valid.ccm").tensor(named: "f16.0.matrix")!.offset + 8))
    }

    func testGapInTensorData() throws {
        var s = surgery
        // Moving the last tensor one slot further leaves a hole before it and runs past the section end.
        let last = try ModelFile.open(path: folder + "/valid.ccm").tensors.max { $0.offset < $1.offset }!
        try s.rewriteTensors { $0.map { e in e.name != last.name ? e : self.moved(e, to: e.offset - 64) } }
        let e = try error(of: s.bytes)
        switch e {
        case .overlap?, .unaccountedBytes?: break
        default: XCTFail("\(String(describing: e))")
        }
    }

    func testAbsurdDimensionsOverflow() throws {
        var s = surgery
        try s.rewriteTensors { $0.map { e in e.name != "f32.0.matrix" ? e : self.reshaped(e, [1 << 40, 1 << 40]) } }
        guard case .absurdDimensions(_, let tensor, let reason)? = try error(of: s.bytes) else { return XCTFail() }
        XCTAssertEqual(tensor, "f32.0.matrix")
        XCTAssertTrue(reason.contains("overflow"), reason)
    }

    func testAbsurdDimensionTooLarge() throws {
        var s = surgery
        try s.rewriteTensors { $0.map { e in e.name != "f32.0.matrix" ? e : self.reshaped(e, [Int.max, 1]) } }
        guard case .absurdDimensions? = try error(of: s.bytes) else { return XCTFail() }
    }

    func testRankAboveEight() throws {
        // The rank byte follows name (4 + len), dtype, layout, encoding.
        var s = surgery
        let table = s.section(.tensorTable)
        let nameLength = Int(s.u32(table.offset + 4))
        s.bytes[table.offset + 4 + 4 + nameLength + 3] = 9
        s.resign()
        guard case .absurdDimensions(_, _, let reason)? = try error(of: s.bytes) else { return XCTFail() }
        XCTAssertTrue(reason.contains("rank 9"), reason)
    }

    func testShapeDisagreesWithByteCount() throws {
        var s = surgery
        try s.rewriteTensors { $0.map { e in e.name != "f32.0.matrix" ? e : self.reshaped(e, [3, 36], keepByteCount: true) } }
        guard case .absurdDimensions? = try error(of: s.bytes) else { return XCTFail() }
    }

    func testDuplicateTensorName() throws {
        var s = surgery
        // Same length names: "f32.0.matrix" -> "f32.1.matrix".
        try s.rewriteTensors { $0.map { e in e.name != "f32.0.matrix" ? e : self.renamed(e, "f32.1.matrix") } }
        XCTAssertEqual(try error(of: s.bytes), .duplicateName(path: folder + "/bad.ccm", kind: "tensor", name: "f32.1.matrix"))
    }

    func testUnknownDtypeCode() throws {
        var s = surgery
        let table = s.section(.tensorTable)
        let nameLength = Int(s.u32(table.offset + 4))
        s.bytes[table.offset + 8 + nameLength] = 77
        s.resign()
        guard case .unknownCode(_, _, "dtype", 77)? = try error(of: s.bytes) else { return XCTFail() }
    }

    func testBadQuantizationInfo() throws {
        var s = surgery
        try s.rewriteTensors { $0.map { e in
            e.name != "q.weight" ? e : TensorEntry(name: e.name, dtype: e.dtype, shape: e.shape, layout: e.layout, encoding: e.encoding,
                offset: e.offset, storedLength: e.storedLength, byteCount: e.byteCount, checksum: e.checksum,
                quantization: QuantizationInfo(scheme: "per_channel", scalesTensor: "q.scalez", axis: 0), index: e.index)
        } }
        guard case .badQuantization(_, "q.weight", let reason)? = try error(of: s.bytes) else { return XCTFail() }
        XCTAssertTrue(reason.contains("q.scalez"), reason)
        // Wrong number of scales for the axis.
        var t = surgery
        try t.rewriteTensors { $0.map { e in
            e.name != "q.weight" ? e : TensorEntry(name: e.name, dtype: e.dtype, shape: e.shape, layout: e.layout, encoding: e.encoding,
                offset: e.offset, storedLength: e.storedLength, byteCount: e.byteCount, checksum: e.checksum,
                quantization: QuantizationInfo(scheme: "per_channel", scalesTensor: "q.scales", axis: 1), index: e.index)
        } }
        guard case .badQuantization? = try error(of: t.bytes) else { return XCTFail() }
    }

    func testInvalidUTF8Name() throws {
        var s = surgery
        let table = s.section(.tensorTable)
        s.bytes[table.offset + 8] = 0xFF
        s.resign()
        guard case .malformed(_, "tensor table", let reason)? = try error(of: s.bytes) else { return XCTFail() }
        XCTAssertTrue(reason.contains("UTF-8"), reason)
    }

    func testHugeCountIsRefusedBeforeAllocating() throws {
        var s = surgery
        s.setU32(UInt32.max, at: s.section(.metadata).offset)
        s.resign()
        guard case .limitExceeded? = try error(of: s.bytes) else { return XCTFail() }
        var t = surgery
        t.setU32(5_000_000, at: t.section(.tokenizer).offset + 4 + 3)   // vocabulary count after "bpe"
        t.resign()
        guard case .malformed? = try error(of: t.bytes) else { return XCTFail() }
    }

    func testInvalidGraphJSON() throws {
        var s = surgery
        let g = s.section(.graphs)
        s.bytes[g.offset] = UInt8(ascii: "{")
        s.resign()
        guard case .invalidGraphs? = try error(of: s.bytes) else { return XCTFail() }
    }

    func testCompressedTensorDecodingToTheWrongSize() throws {
        // Shrink a zstd tensor's shape: the table stays consistent, the frame now declares another size.
        var s = surgery
        try s.rewriteTensors { $0.map { e in e.name != "f32.1.matrix" ? e : self.reshaped(e, [3, 36]) } }
        let path = folder + "/size.ccm"
        try writeBytes(s.bytes, to: path)
        let file = try ModelFile.open(path: path)
        let problems = file.verify()
        guard case .decodeFailed(_, "f32.1.matrix", let reason)? = problems.first?.error else { return XCTFail("\(problems)") }
        XCTAssertTrue(reason.contains("declares"), reason)
        XCTAssertThrowsError(try file.bytes(of: file.tensor(named: "f32.1.matrix")!))
    }

    func testNonZeroPaddingIsReportedByVerify() throws {
        let entry = try ModelFile.open(path: folder + "/valid.ccm").tensor(named: "f32.0.matrix")!
        XCTAssertNotEqual(entry.storedLength % 64, 0, "sample must have padding")
        var b = valid
        b[entry.offset + entry.storedLength] = 7
        let path = folder + "/pad.ccm"
        try writeBytes(b, to: path)
        let problems = try ModelFile.open(path: path).verify()
        XCTAssertEqual(problems.map(\.subject), ["padding"])
    }

    // MARK: sections from the future

    func testUnknownOptionalSectionIsSkipped() throws {
        var s = surgery
        s.appendSection(kind: 99, flags: 2, body: Array("future data".utf8))
        let path = folder + "/future.ccm"
        try writeBytes(s.bytes, to: path)
        let file = try ModelFile.open(path: path)
        XCTAssertEqual(file.sections.last?.kind, 99)
        XCTAssertEqual(file.metadata, SampleModel.metadata)
    }

    func testUnknownRequiredSectionIsRefused() throws {
        var s = surgery
        s.appendSection(kind: 99, flags: 3, body: Array("future data".utf8))
        XCTAssertEqual(try error(of: s.bytes), .unsupportedSection(path: folder + "/bad.ccm", kind: 99))
    }

    // MARK: not a model at all

    func testEmptyFile() throws {
        XCTAssertEqual(try error(of: []), .emptyFile(path: folder + "/bad.ccm"))
    }

    func testDirectory() throws {
        XCTAssertEqual(openError(folder), .isDirectory(path: folder))
    }

    func testMissingFile() throws {
        XCTAssertEqual(openError(folder + "/nope.ccm"), .notFound(path: folder + "/nope.ccm"))
        XCTAssertEqual(openError(folder + "/valid.ccm/inside"), .notFound(path: folder + "/valid.ccm/inside"))
    }

    func testGitLFSPointer() throws {
        let pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n"
        let e = try error(of: Array(pointer.utf8), name: "model.ccm")
        XCTAssertEqual(e, .gitLFSPointer(path: folder + "/model.ccm"))
        XCTAssertEqual(e?.description, "\(folder)/model.ccm is a git-lfs pointer, not a model: run `git lfs pull`")
    }

    func testHTMLPage() throws {
        for page in ["<!DOCTYPE html><html><body>404</body></html>", "\u{FEFF}\n  <html lang=en>", "<!doctype HTML>"] {
            XCTAssertEqual(try error(of: Array(page.utf8)), .htmlPage(path: folder + "/bad.ccm"), page)
        }
    }

    func testPyTorchCheckpoints() throws {
        let zip: [UInt8] = [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 60)
        let e = try error(of: zip, name: "model.pt")
        XCTAssertEqual(e, .pytorchCheckpoint(path: folder + "/model.pt"))
        XCTAssertTrue(e?.description.contains("clipcapctl convert") ?? false)
        let pickle: [UInt8] = [0x80, 0x02, 0x8A, 0x0A] + [UInt8](repeating: 0x6C, count: 20)
        XCTAssertEqual(try error(of: pickle), .pytorchCheckpoint(path: folder + "/bad.ccm"))
    }

    func testOtherFormats() throws {
        XCTAssertEqual(try error(of: Array("GGUF".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 56)),
                       .foreignFormat(path: folder + "/bad.ccm", format: "GGUF"))
        let header = Array(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.utf8)
        let safetensors = leBytes([UInt64(header.count)]) + header + [0, 0, 0, 0]
        XCTAssertEqual(try error(of: safetensors), .foreignFormat(path: folder + "/bad.ccm", format: "safetensors"))
    }

    func testEveryMessageIsOneLineAndSaysWhatToDo() throws {
        let samples: [ModelFileError] = [
            .truncated(path: "m.ccm", expected: 100, actual: 50), .checksumMismatch(path: "m.ccm", region: "header"),
            .overlap(path: "m.ccm", first: "a", second: "b"), .absurdDimensions(path: "m.ccm", tensor: "t", reason: "r"),
            .unsupportedVersion(path: "m.ccm", found: 0, supported: 1), .notFound(path: "m.ccm"), .htmlPage(path: "m.ccm"),
        ]
        for e in samples {
            XCTAssertFalse(e.description.contains("\n"))
            XCTAssertTrue(e.description.hasPrefix("m.ccm"), e.description)
            XCTAssertTrue(e.description.contains(":"), e.description)
        }
    }

    // MARK: helpers

    private func moved(_ e: TensorEntry, to offset: Int) -> TensorEntry {
        TensorEntry(name: e.name, dtype: e.dtype, shape: e.shape, layout: e.layout, encoding: e.encoding, offset: offset,
                    storedLength: e.storedLength, byteCount: e.byteCount, checksum: e.checksum, quantization: e.quantization, index: e.index)
    }

    private func reshaped(_ e: TensorEntry, _ shape: [Int], keepByteCount: Bool = false) -> TensorEntry {
        let (count, overflow) = shape.reduce((1, false)) { acc, d in
            let (p, o) = acc.0.multipliedReportingOverflow(by: d); return (p, acc.1 || o)
        }
        let (bytes, overflow2) = count.multipliedReportingOverflow(by: e.dtype.size)
        let byteCount = keepByteCount || overflow || overflow2 ? e.byteCount : bytes
        return TensorEntry(name: e.name, dtype: e.dtype, shape: shape, layout: e.layout, encoding: e.encoding, offset: e.offset,
                           storedLength: e.storedLength, byteCount: byteCount, checksum: e.checksum, quantization: e.quantization, index: e.index)
    }

    private func renamed(_ e: TensorEntry, _ name: String) -> TensorEntry {
        TensorEntry(name: name, dtype: e.dtype, shape: e.shape, layout: e.layout, encoding: e.encoding, offset: e.offset,
                    storedLength: e.storedLength, byteCount: e.byteCount, checksum: e.checksum, quantization: e.quantization, index: e.index)
    }
}
