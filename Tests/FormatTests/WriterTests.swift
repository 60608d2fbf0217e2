import XCTest
@testable import CCMFormat

final class WriterTests: XCTestCase {
    struct ProviderFailure: Error {}

    private func folderContents(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    }

    func testFailingProviderLeavesNoFile() throws {
        let folder = try makeTemporaryFolder(self)
        var w = SampleModel.writer()
        w.add(TensorSource(name: "broken", dtype: .f32, shape: [2], provider: { throw ProviderFailure() }))
        XCTAssertThrowsError(try w.write(to: folder + "/out.ccm")) { e in
            guard case .providerFailed(_, "broken", _)? = e as? ModelWriterError else { return XCTFail("\(e)") }
        }
        XCTAssertEqual(try folderContents(folder), [], "no output, no temporary")
    }

    func testFailingProviderLeavesExistingFileUntouched() throws {
        let folder = try makeTemporaryFolder(self)
        let path = try SampleModel.write(in: folder, name: "out.ccm")
        let before = try readBytes(path)
        let mapped = try ModelFile.open(path: path)
        var w = ModelWriter(metadata: Metadata([("x", .int(1))]), graphs: [], tokenizer: nil)
        w.add(TensorSource(name: "ok", shape: [4], floats: [1, 2, 3, 4]))
        w.add(TensorSource(name: "short", dtype: .f32, shape: [4], bytes: [1, 2, 3]))
        XCTAssertThrowsError(try w.write(to: path)) { e in
            XCTAssertEqual(e as? ModelWriterError, .wrongByteCount(path: path, tensor: "short", expected: 16, actual: 3))
        }
        XCTAssertEqual(try readBytes(path), before)
        XCTAssertEqual(try folderContents(folder), ["out.ccm"])
        XCTAssertEqual(mapped.verify(), [])
    }

    /// Replacing a file that is mapped for reading is safe: rename leaves the old inode to the map.
    func testReplacingAMappedFileKeepsTheOldMappingValid() throws {
        let folder = try makeTemporaryFolder(self)
        let path = try SampleModel.write(in: folder, name: "out.ccm")
        let old = try ModelFile.open(path: path)
        let entry = try XCTUnwrap(old.tensor(named: "f32.0.matrix"))
        var w = ModelWriter(metadata: Metadata(), graphs: [], tokenizer: nil)
        w.add(TensorSource(name: "new", shape: [1], floats: [5]))
        try w.write(to: path)
        XCTAssertEqual(Array(try old.bytes(of: entry)), SampleModel.bytes(of: 0))
        XCTAssertEqual(try ModelFile.open(path: path).tensors.map(\.name), ["new"])
    }

    func testOutputPathIsADirectory() throws {
        let folder = try makeTemporaryFolder(self)
        XCTAssertThrowsError(try SampleModel.writer().write(to: folder)) { e in
            XCTAssertEqual(e as? ModelWriterError, .outputIsDirectory(path: folder))
            XCTAssertTrue("\(e)".contains("is a directory"))
        }
        XCTAssertThrowsError(try SampleModel.writer().write(to: folder + "/missing/out.ccm")) { e in
            XCTAssertEqual(e as? ModelWriterError, .folderMissing(path: folder + "/missing"))
        }
    }

    func testInvalidModelsAreRefusedBeforeWriting() throws {
        let folder = try makeTemporaryFolder(self)
        func refuse(_ w: ModelWriter, _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try w.write(to: folder + "/x.ccm"), line: line) { e in
                guard case .invalidModel(_, let reason)? = e as? ModelWriterError else { return XCTFail("\(e)", line: line) }
                XCTAssertTrue(reason.contains(fragment), reason, line: line)
            }
        }
        var dup = ModelWriter(metadata: Metadata(), graphs: [], tokenizer: nil)
        dup.add(TensorSource(name: "a", shape: [1], floats: [1]))
        dup.add(TensorSource(name: "a", shape: [1], floats: [1]))
        refuse(dup, "two tensors")
        var rank = ModelWriter(metadata: Metadata(), graphs: [], tokenizer: nil)
        rank.add(TensorSource(name: "r", dtype: .u8, shape: Array(repeating: 1, count: 9), bytes: [0]))
        refuse(rank, "rank 9")
        var neg = ModelWriter(metadata: Metadata(), graphs: [], tokenizer: nil)
        neg.add(TensorSource(name: "n", dtype: .u8, shape: [-1], bytes: []))
        refuse(neg, "negative")
        var q = ModelWriter(metadata: Metadata(), graphs: [], tokenizer: nil)
        q.add(TensorSource(name: "w", dtype: .i8, shape: [2], quantization: QuantizationInfo(scheme: "per_channel", scalesTensor: "s"), bytes: [1, 2]))
        refuse(q, "scales tensor 's'")
        let graphs = ModelWriter(metadata: Metadata(), graphs: [SampleModel.graphs[0], SampleModel.graphs[0]], tokenizer: nil)
        refuse(graphs, "two graphs")
        XCTAssertEqual(try folderContents(folder), [])
    }

    func testWriterSelfCheckCatchesInconsistentQuantization() throws {
        // Scales of the wrong length pass the writer's quick checks; the reader's validation of
        // the finished temporary file refuses it and nothing is left behind.
        let folder = try makeTemporaryFolder(self)
        var w = ModelWriter(metadata: Metadata(), graphs: [], tokenizer: nil)
        w.add(TensorSource(name: "s", shape: [3], floats: [1, 1, 1]))
        w.add(TensorSource(name: "w", dtype: .i8, shape: [2, 2], quantization: QuantizationInfo(scheme: "per_channel", scalesTensor: "s"), bytes: [1, 2, 3, 4]))
        XCTAssertThrowsError(try w.write(to: folder + "/x.ccm")) { e in
            guard case .selfCheckFailed? = e as? ModelWriterError else { return XCTFail("\(e)") }
        }
        XCTAssertEqual(try folderContents(folder), [])
    }

    func testProgressAndCompressionLevel() throws {
        let folder = try makeTemporaryFolder(self)
        let values = (0..<4096).map { Float(($0 % 17) - 8) * 0.01 }
        var sizes: [Int32: Int] = [:]
        for level in [Int32(1), 19] {
            var w = ModelWriter(metadata: Metadata(), graphs: [], tokenizer: nil)
            w.compressionLevel = level
            w.add(TensorSource(name: "a", shape: [4096], floats: values, encoding: .zstd))
            w.add(TensorSource(name: "b", shape: [4096], floats: values, encoding: .shuffledZstd))
            let calls = LockedList()
            try w.write(to: folder + "/l\(level).ccm") { done, total in
                XCTAssertEqual(total, 2)
                calls.append(done)
            }
            XCTAssertEqual(calls.values, [1, 2])
            let file = try ModelFile.open(path: folder + "/l\(level).ccm")
            for t in file.tensors {
                XCTAssertEqual(Array(try file.bytes(of: t)), values.withUnsafeBytes { Array($0) })
                XCTAssertLessThan(t.storedLength, t.byteCount / 4, "periodic data compresses well")
            }
            sizes[level] = file.fileSize
        }
        XCTAssertLessThanOrEqual(sizes[19]!, sizes[1]!)
    }
}
