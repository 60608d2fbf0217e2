import Foundation
import XCTest
@testable import TorchFormats

/// Malformed and malicious structures: every one must end in a typed error, quickly,
/// without a crash or a large allocation.
final class HostileInputTests: XCTestCase {
    func readError(_ bytes: [UInt8], name: String, limits: ReaderLimits = .init()) throws -> CheckpointError {
        let path = try Fixtures.write(bytes, name: name)
        do {
            let contents = try CheckpointReader.read(path: path, limits: limits)
            for tensor in contents.tensors { _ = try tensor.bytes() }
        } catch let error as CheckpointError {
            return error
        }
        throw NoErrorRaised(name: name)
    }

    /// Thrown (and so reported as a test failure) when a hostile input was accepted.
    struct NoErrorRaised: Error { let name: String }

    func archive(_ pickleBody: [UInt8]) -> [UInt8] {
        torchArchive(pickle: Pickle.proto + pickleBody + Pickle.stop)
    }

    func testZipEntryNamesThatEscapeAreRefused() throws {
        for bad in ["../evil/data.pkl", "archive/../../etc/passwd", "/abs/data.pkl", "C:/x/data.pkl", "a\\..\\b"] {
            var zip = ZipBuilder()
            zip.add("archive/data.pkl", Pickle.proto + Pickle.emptyDict + Pickle.stop)
            zip.add(bad, [1, 2, 3])
            let error = try readError(zip.build(), name: "names.pt")
            XCTAssertEqual(error, .unsafeEntryName(path: Fixtures.scratch.appendingPathComponent("names.pt").path, name: bad), bad)
        }
    }

    func testZipBombLikeDeclaredSizesAndOverlaps() throws {
        // A stored entry claiming 4 GB inside a tiny file.
        var zip = ZipBuilder()
        zip.add("archive/data.pkl", Pickle.proto + Pickle.emptyDict + Pickle.stop)
        zip.add("archive/data/0", [1, 2, 3, 4])
        zip.centralSizeOverride["archive/data/0"] = 0xFFFF_FFF0
        guard case .corruptZip = try readError(zip.build(), name: "bomb.pt") else { return XCTFail("declared size not refused") }

        // Two entries whose central records point at the same bytes.
        var overlap = ZipBuilder()
        overlap.add("archive/data.pkl", Pickle.proto + Pickle.emptyDict + Pickle.stop)
        overlap.add("archive/data/0", Array(repeating: 7, count: 64))
        overlap.add("archive/data/1", Array(repeating: 7, count: 64))
        overlap.centralOffsetOverride["archive/data/1"] = 0
        guard case .corruptZip = try readError(overlap.build(), name: "overlap.pt") else { return XCTFail("overlap not refused") }
    }

    func testCorruptedCentralDirectories() throws {
        let good = torchArchive(pickle: Pickle.proto + Pickle.emptyDict + Pickle.stop)
        // Locate the end record: the last 22 bytes.
        let end = good.count - 22
        var badCount = good
        badCount[end + 10] = 0xFF; badCount[end + 11] = 0x7F   // 32767 entries in a tiny directory
        badCount[end + 8] = 0xFF; badCount[end + 9] = 0x7F
        guard case .corruptZip = try readError(badCount, name: "count.pt") else { return XCTFail("entry count lie") }
        var badOffset = good
        badOffset[end + 16] = 0xF0; badOffset[end + 19] = 0x70
        guard case .corruptZip = try readError(badOffset, name: "cdoffset.pt") else { return XCTFail("directory offset lie") }
        var badSignature = good
        let directory = Int(good[end + 16]) | Int(good[end + 17]) << 8
        badSignature[directory] ^= 0xFF
        guard case .corruptZip = try readError(badSignature, name: "cdsig.pt") else { return XCTFail("bad signature") }
        var tooMany = ReaderLimits()
        tooMany.maxZipEntries = 2
        guard case .limitExceeded = try readError(good, name: "cap.pt", limits: tooMany) else { return XCTFail("entry cap") }
    }

    func testCompressedStoragesAreRefusedClearly() throws {
        var zip = ZipBuilder()
        zip.add("archive/data.pkl", Pickle.proto + Pickle.emptyDict + Pickle.stop, method: 8)
        guard case .unsupportedEntry(_, "archive/data.pkl", let reason) = try readError(zip.build(), name: "deflate.pt") else {
            return XCTFail("compressed entry not refused")
        }
        XCTAssertTrue(reason.contains("compressed"))
    }

    func testHugeMemoIndicesAndUndefinedMemo() throws {
        // LONG_BINPUT 0xFFFFFFFF must not allocate 4 G slots.
        let put = Pickle.emptyDict + [0x72, 0xFF, 0xFF, 0xFF, 0xFF] + [0x6A, 0xFF, 0xFF, 0xFF, 0xFF]
        let contents = try CheckpointReader.read(path: try Fixtures.write(archive(put), name: "memo.pt"))
        XCTAssertTrue(contents.tensors.isEmpty)
        guard case .badPickle = try readError(archive([0x6A, 0x10, 0x00, 0x00, 0x00]), name: "memoget.pt") else {
            return XCTFail("undefined memo entry")
        }
        // Many memo entries beyond the cap.
        var limits = ReaderLimits()
        limits.maxMemoEntries = 100
        var many: [UInt8] = Pickle.emptyDict
        for i in 0..<200 { many += [0x72] + le(UInt64(i), 4) }
        guard case .limitExceeded = try readError(archive(many), name: "memocap.pt", limits: limits) else {
            return XCTFail("memo cap")
        }
    }

    func testDeepNestingIsBounded() throws {
        // 100k nested lists: EMPTY_LIST, MARK, ... (every list stays open).
        let lists = Array(repeating: Pickle.emptyList + Pickle.mark, count: 100_000).flatMap { $0 }
        guard case .limitExceeded = try readError(archive(lists), name: "lists.pt") else { return XCTFail("marks") }
        // 100k lists appended into each other through the memo, then walked.
        var chain: [UInt8] = Pickle.emptyList + [0x72] + le(0, 4)
        for i in 1..<100_000 {
            chain += Pickle.emptyList + [0x72] + le(UInt64(i), 4)        // new list, memo i
            chain += [0x6A] + le(UInt64(i - 1), 4) + [0x61]                // APPEND list i-1 into list i
        }
        // STOP returns list 99999, the head of a 100k-deep chain.
        let error = try readError(archive(chain), name: "chain.pt")
        guard case .limitExceeded = error else { return XCTFail("chain: \(error)") }
        // 100k nested tuples (values, released recursively) are refused while being built.
        let tuples = Pickle.emptyTuple + Array(repeating: 0x85, count: 100_000)
        guard case .limitExceeded(_, let what, _) = try readError(archive(tuples), name: "tuples.pt") else {
            return XCTFail("tuples")
        }
        XCTAssertTrue(what.contains("tuple nesting"))
    }

    func testSelfReferencingContainersTerminate() throws {
        // d = {}; d["self"] = d; d["w"] = tensor
        let body = Pickle.emptyDict + [0x71, 0x00] + Pickle.string("self") + [0x68, 0x00] + [0x73]
            + Pickle.string("w") + Pickle.tensor(key: "0", numel: 1, offset: 0, size: [], stride: []) + [0x73]
        let path = try Fixtures.write(torchArchive(pickle: Pickle.proto + body + Pickle.stop, storages: ["0": floatBytes([2])]),
                                      name: "cycle.pt")
        let contents = try CheckpointReader.read(path: path)
        XCTAssertEqual(contents.tensors.map(\.name), ["w"])
        XCTAssertEqual(floats(try contents.tensors[0].bytes()), [2])
    }

    func testSharedReferenceBlowupIsBounded() throws {
        // l0 = [t]; l1 = [l0, l0]; ...; l40 has 2^40 paths to the tensor.
        var body = Pickle.emptyList + Pickle.tensor(key: "0", numel: 1, offset: 0, size: [], stride: []) + [0x61, 0x71, 0x00]
        for i in 1...40 {
            body += Pickle.emptyList + [0x68, UInt8(i - 1), 0x61, 0x68, UInt8(i - 1), 0x61, 0x71, UInt8(i)]
        }
        let path = try Fixtures.write(torchArchive(pickle: Pickle.proto + body + Pickle.stop, storages: ["0": floatBytes([2])]),
                                      name: "blowup.pt")
        var limits = ReaderLimits()
        limits.maxWalkSteps = 100_000
        XCTAssertThrowsError(try CheckpointReader.read(path: path, limits: limits)) { error in
            guard case .limitExceeded = error as? CheckpointError else { return XCTFail("\(error)") }
        }
    }

    func testHugeDeclaredStringLengths() throws {
        for opcode: [UInt8] in [[0x58, 0xFF, 0xFF, 0xFF, 0x7F], [0x8D] + le(UInt64.max, 8), [0x8E] + le(1 << 40, 8),
                                [0x42, 0x00, 0x00, 0x00, 0x10]] {
            let error = try readError(archive(opcode), name: "string.pt")
            switch error {
            case .limitExceeded, .badPickle: break
            default: XCTFail("\(opcode): \(error)")
            }
        }
        // Within the limit but past the end of the pickle.
        guard case .badPickle = try readError(archive([0x58, 0x00, 0x10, 0x00, 0x00]), name: "short.pt") else {
            return XCTFail("string past end")
        }
    }

    func testMalformedPickles() throws {
        let cases: [(String, [UInt8])] = [
            ("unknown opcode", [0x01]),
            ("long too big", [0x8A, 0x10] + Array(repeating: 1, count: 16)),
            ("stack underflow", [0x73]),
            ("append to dict", Pickle.emptyDict + Pickle.emptyDict + [0x61]),
            ("reduce on int", Pickle.int(3) + Pickle.emptyTuple + Pickle.reduce),
            ("odd setitems", Pickle.emptyDict + Pickle.mark + Pickle.int(1) + Pickle.setitems),
            ("no stop", Pickle.emptyDict),
            ("pop below mark", Pickle.int(1) + Pickle.mark + [0x30]),
            ("bad persid", Pickle.int(1) + Pickle.binpersid),
            ("tensor without storage", Pickle.global("torch._utils", "_rebuild_tensor_v2")
                + Pickle.tuple([Pickle.int(1), Pickle.int(0), Pickle.tuple([]), Pickle.tuple([]), Pickle.newfalse, Pickle.emptyDict])
                + Pickle.reduce),
        ]
        for (name, body) in cases {
            var bytes = Pickle.proto + body
            if name != "no stop" { bytes += Pickle.stop }
            let error = try readError(torchArchive(pickle: bytes), name: "malformed.pt")
            switch error {
            case .badPickle, .badTensor: break
            default: XCTFail("\(name): \(error)")
            }
        }
    }

    func testOpcodeBudget() throws {
        var limits = ReaderLimits()
        limits.maxPickleOps = 1_000
        let body = Array(repeating: [UInt8]([0x4E, 0x30]), count: 1_000).flatMap { $0 } + Pickle.emptyDict
        guard case .limitExceeded = try readError(archive(body), name: "ops.pt", limits: limits) else {
            return XCTFail("op budget")
        }
    }

    func testTruncatedFixturesAtManyOffsets() throws {
        for name in ["state_dict.pt", "clip_tiny_jit.pt", "hf-gpt2-safetensors/model.safetensors", "big_endian.pt"] {
            let bytes = try Fixtures.bytes(name)
            var cuts = Set(stride(from: 0, to: bytes.count, by: max(1, bytes.count / 150)))
            cuts.formUnion([1, 7, 8, 9, 21, 22, bytes.count - 1, bytes.count - 22, bytes.count - 23])
            for cut in cuts.sorted() where cut >= 0 && cut < bytes.count {
                let path = try Fixtures.write(Array(bytes.prefix(cut)), name: "cut.bin")
                do {
                    let contents = try CheckpointReader.read(path: path)
                    XCTFail("\(name) cut at \(cut) read as \(contents.tensors.count) tensors")
                } catch is CheckpointError {
                } catch {
                    XCTFail("\(name) cut at \(cut): untyped \(error)")
                }
            }
        }
    }
}
