import XCTest
@testable import CCMFormat

final class RoundTripTests: XCTestCase {
    func testEveryDtypeAndEncodingRoundTrips() throws {
        let folder = try makeTemporaryFolder(self)
        let path = try SampleModel.write(in: folder)
        let file = try ModelFile.open(path: path)
        XCTAssertEqual(file.version, 1)
        XCTAssertEqual(file.tensors.count, SampleModel.specs.count)
        for (i, (name, dtype, shape, encoding, q)) in SampleModel.specs.enumerated() {
            let entry = try XCTUnwrap(file.tensor(named: name), name)
            XCTAssertEqual(entry.dtype, dtype, name)
            XCTAssertEqual(entry.shape, shape, name)
            XCTAssertEqual(entry.encoding, encoding, name)
            XCTAssertEqual(entry.quantization, q, name)
            XCTAssertEqual(entry.byteCount, shape.reduce(1, *) * dtype.size, name)
            XCTAssertEqual(entry.offset % 64, 0, name)
            let bytes = try file.bytes(of: entry)
            XCTAssertEqual(Array(bytes), SampleModel.bytes(of: i), name)
            if entry.byteCount > 0 { XCTAssertEqual(Int(bitPattern: bytes.baseAddress) % 64, 0, "\(name) alignment") }
        }
        XCTAssertEqual(file.verify(), [])
    }

    func testShuffleGroupsBytesByPositionAndInverts() {
        let input: [UInt8] = [0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x22, 0x23]
        XCTAssertEqual(input.withUnsafeBytes { ZstdCodec.shuffle($0, elementSize: 4) }, [0x10, 0x20, 0x11, 0x21, 0x12, 0x22, 0x13, 0x23])
        for size in [1, 2, 4, 8] {
            for n in [0, 1, 3, 17, 100] {
                let data = sampleBytes(.u8, count: n * size, seed: UInt64(n * 10 + size))
                let shuffled = data.withUnsafeBytes { ZstdCodec.shuffle($0, elementSize: size) }
                var back = [UInt8](repeating: 0, count: data.count)
                shuffled.withUnsafeBytes { s in back.withUnsafeMutableBytes { ZstdCodec.unshuffle(s, into: $0, elementSize: size) } }
                XCTAssertEqual(back, data, "size \(size) n \(n)")
            }
        }
    }

    func testScalarHasOneElementAndEmptyTensorsStoreNothing() throws {
        let file = try ModelFile.open(path: try SampleModel.write(in: try makeTemporaryFolder(self)))
        let scalar = try XCTUnwrap(file.tensor(named: "scalar"))
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.elementCount, 1)
        XCTAssertEqual(try file.bytes(of: scalar).count, 4)
        for name in ["empty", "empty.z"] {
            let e = try XCTUnwrap(file.tensor(named: name))
            XCTAssertEqual(e.storedLength, 0)
            XCTAssertEqual(try file.bytes(of: e).count, 0)
        }
    }

    func testMetadataGraphsAndTokenizerRoundTripExactly() throws {
        let file = try ModelFile.open(path: try SampleModel.write(in: try makeTemporaryFolder(self)))
        XCTAssertEqual(file.metadata, SampleModel.metadata)
        XCTAssertEqual(file.metadata.entries.map(\.key), SampleModel.metadata.entries.map(\.key), "order preserved")
        XCTAssertEqual(file.graphs, SampleModel.graphs)
        XCTAssertEqual(file.graph(named: "decoder"), SampleModel.graphs[1])
        XCTAssertNil(file.graph(named: "nope"))
        XCTAssertEqual(file.tokenizer, SampleModel.tokenizer)
    }

    func testRawTensorsAreZeroCopyAndCompressedOnesDecodeOnce() throws {
        let file = try ModelFile.open(path: try SampleModel.write(in: try makeTemporaryFolder(self)))
        let raw = try XCTUnwrap(file.tensor(named: "f32.0.matrix"))
        let rawBytes = try file.bytes(of: raw)
        file.map.bytes.withMemoryRebound(to: UInt8.self) { map in
            XCTAssertEqual(rawBytes.baseAddress, UnsafeRawPointer(map.baseAddress! + raw.offset), "raw points into the map")
        }
        let z = try XCTUnwrap(file.tensor(named: "f32.2.matrix"))
        let first = try file.bytes(of: z)
        let second = try file.bytes(of: z)
        XCTAssertEqual(first.baseAddress, second.baseAddress, "decoded once, same buffer")
    }

    func testConcurrentFirstUseDecodesOneBuffer() throws {
        let file = try ModelFile.open(path: try SampleModel.write(in: try makeTemporaryFolder(self)),
                                      options: OpenOptions(verifyTensorChecksumsOnFirstUse: true))
        let entry = try XCTUnwrap(file.tensor(named: "bf16.2.matrix"))
        let addresses = LockedList()
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            if let b = try? file.bytes(of: entry) { addresses.append(Int(bitPattern: b.baseAddress)) }
        }
        XCTAssertEqual(addresses.values.count, 16)
        XCTAssertEqual(Set(addresses.values).count, 1)
    }

    func testEntryOfAnotherFileIsRefused() throws {
        let folder = try makeTemporaryFolder(self)
        let a = try ModelFile.open(path: try SampleModel.write(in: folder, name: "a.ccm"))
        var w = ModelWriter(metadata: Metadata(), graphs: [], tokenizer: nil)
        w.add(TensorSource(name: "other", shape: [1], floats: [1]))
        try w.write(to: folder + "/b.ccm")
        let b = try ModelFile.open(path: folder + "/b.ccm")
        XCTAssertThrowsError(try a.bytes(of: b.tensors[0])) { error in
            guard case .unknownTensor = error as? ModelFileError else { return XCTFail("\(error)") }
        }
    }

    func testModelWithoutTensorsGraphsOrTokenizer() throws {
        let path = try makeTemporaryFolder(self) + "/bare.ccm"
        try ModelWriter(metadata: Metadata(), graphs: [], tokenizer: nil).write(to: path)
        let file = try ModelFile.open(path: path)
        XCTAssertEqual(file.tensors.count, 0)
        XCTAssertEqual(file.graphs, [])
        XCTAssertNil(file.tokenizer)
        XCTAssertEqual(file.verify(), [])
    }

    /// A file written by the first implementation must keep opening: the format is a contract.
    func testCommittedVersion1FixtureStillOpens() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/format/sample-v1.ccm").path
        // Regenerate only on purpose (a format change that keeps version 1 readable is a bug).
        if ProcessInfo.processInfo.environment["CCM_REGENERATE_FIXTURES"] == "1" {
            try SampleModel.writer().write(to: fixture)
        }
        let file = try ModelFile.open(path: fixture)
        XCTAssertEqual(file.verify(), [])
        XCTAssertEqual(file.metadata, SampleModel.metadata)
        XCTAssertEqual(file.graphs, SampleModel.graphs)
        XCTAssertEqual(file.tokenizer, SampleModel.tokenizer)
        for (i, spec) in SampleModel.specs.enumerated() {
            XCTAssertEqual(Array(try file.bytes(of: try XCTUnwrap(file.tensor(named: spec.0)))), SampleModel.bytes(of: i))
        }
        // The writer is deterministic: today's metadata, graphs and tokenizer sections equal the
        // fixture's byte for byte (compressed tensors may differ across libzstd versions).
        let fresh = FileSurgery(bytes: try readBytes(try SampleModel.write(in: try makeTemporaryFolder(self))))
        let old = FileSurgery(bytes: try readBytes(fixture))
        XCTAssertEqual(Array(fresh.bytes[0..<16]), Array(old.bytes[0..<16]))
        for kind in [SectionKind.metadata, .graphs, .tokenizer] {
            let a = fresh.section(kind), b = old.section(kind)
            XCTAssertEqual(Array(fresh.bytes[a.offset..<(a.offset + a.length)]), Array(old.bytes[b.offset..<(b.offset + b.length)]), "\(kind)")
        }
    }
}

final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Int] = []
    func append(_ v: Int) { lock.lock(); items.append(v); lock.unlock() }
    var values: [Int] { lock.lock(); defer { lock.unlock() }; return items }
}
