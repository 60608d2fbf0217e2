import Foundation
import XCTest
@testable import TorchFormats

/// Files that must be refused with a specific, helpful error.
final class RefusalTests: XCTestCase {
    func error(reading path: String, limits: ReaderLimits = .init()) -> CheckpointError? {
        do {
            _ = try CheckpointReader.read(path: path, limits: limits)
            return nil
        } catch let error as CheckpointError {
            return error
        } catch {
            XCTFail("untyped error \(error)")
            return nil
        }
    }

    func testHostilePickleIsRefusedNamingTheGlobalAndNothingRuns() throws {
        try? FileManager.default.removeItem(atPath: "/tmp/clipcap-pwned")
        let path = Fixtures.path("hostile.pt")
        let error = try XCTUnwrap(error(reading: path))
        XCTAssertEqual(error, .forbiddenGlobal(path: path, global: "posix.system"))
        XCTAssertTrue(error.description.contains("refusing to load \(path): its pickle imports posix.system"), error.description)
        XCTAssertTrue(error.description.contains("nothing was executed"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/clipcap-pwned"))
    }

    func testLegacyFormatNamesTheFileAndTheFix() throws {
        let path = Fixtures.path("legacy.pt")
        let error = try XCTUnwrap(error(reading: path))
        XCTAssertEqual(error, .legacyTorchFormat(path: path))
        XCTAssertTrue(error.description.contains("legacy format"))
        XCTAssertTrue(error.description.contains("re-save with torch>=1.6"))
        XCTAssertTrue(error.description.contains(path))
    }

    func testGitLFSPointer() throws {
        let path = Fixtures.path("lfs_pointer.pt")
        let error = try XCTUnwrap(error(reading: path))
        XCTAssertEqual(error, .gitLFSPointer(path: path))
        XCTAssertTrue(error.description.contains("is a git-lfs pointer"))
        XCTAssertTrue(error.description.contains("git lfs pull"))
    }

    func testHTMLPage() throws {
        let path = Fixtures.path("download_page.pt")
        let error = try XCTUnwrap(error(reading: path))
        XCTAssertEqual(error, .htmlPage(path: path))
        XCTAssertTrue(error.description.contains("is an HTML page, not a checkpoint: the download probably failed"))
    }

    func testEmptyTextAndUnknownFiles() throws {
        let empty = try Fixtures.write([], name: "empty.pt")
        XCTAssertEqual(error(reading: empty), .emptyFile(path: empty))
        let text = try Fixtures.write(Array("{\"error\": \"Repository not found\"}".utf8), name: "error.bin")
        guard case .textFile = error(reading: text) else { return XCTFail("expected textFile") }
        let binary = try Fixtures.write([0x00, 0xFF, 0x13, 0x37, 0x00, 0x01, 0x02, 0x03, 0x04], name: "junk.pt")
        guard case .unknownFormat(_, let first) = error(reading: binary) else { return XCTFail("expected unknownFormat") }
        XCTAssertEqual(first, "00 ff 13 37 00 01 02 03")
        XCTAssertEqual(error(reading: "/nonexistent/model.pt").map { if case .cannotOpen = $0 { true } else { false } }, true)
    }

    func testBarePickleIsNotALegacyCheckpoint() throws {
        let path = try Fixtures.write(Pickle.proto + Pickle.emptyDict + Pickle.stop, name: "bare.pkl")
        XCTAssertEqual(error(reading: path), .barePickle(path: path))
    }

    func testForbiddenGlobalsViaStackGlobalAndInsideTorchNamespace() throws {
        let viaStack = Pickle.proto + Pickle.string("os") + Pickle.string("system") + [0x93] + Pickle.stop
        let path1 = try Fixtures.write(torchArchive(pickle: viaStack), name: "stackglobal.pt")
        XCTAssertEqual(error(reading: path1), .forbiddenGlobal(path: path1, global: "os.system"))
        // Only storage classes are allowed from the torch module itself.
        let torchLoad = Pickle.proto + Pickle.global("torch", "load") + Pickle.stop
        let path2 = try Fixtures.write(torchArchive(pickle: torchLoad), name: "torchload.pt")
        XCTAssertEqual(error(reading: path2), .forbiddenGlobal(path: path2, global: "torch.load"))
        // A whole pickled module.
        let module = Pickle.proto + Pickle.global("__main__", "Net") + Pickle.emptyTuple + [0x81] + Pickle.stop
        let path3 = try Fixtures.write(torchArchive(pickle: module), name: "module.pt")
        XCTAssertEqual(error(reading: path3), .forbiddenGlobal(path: path3, global: "__main__.Net"))
        let complex = Pickle.proto + Pickle.tensor(key: "0", numel: 1, offset: 0, size: [1], stride: [1],
                                                   storage: "ComplexFloatStorage") + Pickle.stop
        let path4 = try Fixtures.write(torchArchive(pickle: complex, storages: ["0": [0, 0, 0, 0, 0, 0, 0, 0]]), name: "complex.pt")
        guard case .unsupportedDType(_, _, "torch.ComplexFloatStorage") = error(reading: path4) else {
            return XCTFail("expected unsupportedDType, got \(String(describing: error(reading: path4)))")
        }
    }

    func testHandWrittenArchiveAndZip64Read() throws {
        let pickle = Pickle.proto + Pickle.dict([
            ("w", Pickle.tensor(key: "0", numel: 6, offset: 0, size: [2, 3], stride: [3, 1])),
            ("wt", Pickle.tensor(key: "0", numel: 6, offset: 0, size: [3, 2], stride: [1, 3])),
            ("tail", Pickle.tensor(key: "0", numel: 6, offset: 4, size: [2], stride: [1])),
        ]) + Pickle.stop
        let storage = floatBytes([1, 2, 3, 4, 5, 6])
        for zip64 in [false, true] {
            let path = try Fixtures.write(torchArchive(pickle: pickle, storages: ["0": storage], prefix: "weird name", zip64: zip64),
                                          name: "hand\(zip64).pt")
            let contents = try CheckpointReader.read(path: path)
            XCTAssertEqual(contents.tensors.map(\.name), ["w", "wt", "tail"])
            XCTAssertEqual(floats(try XCTUnwrap(contents.byName["w"]).bytes()), [1, 2, 3, 4, 5, 6])
            XCTAssertEqual(floats(try XCTUnwrap(contents.byName["wt"]).bytes()), [1, 4, 2, 5, 3, 6])
            XCTAssertEqual(floats(try XCTUnwrap(contents.byName["tail"]).bytes()), [5, 6])
        }
    }

    func testTensorViewsOutsideTheirStorage() throws {
        let cases: [(String, [UInt8])] = [
            ("offset", Pickle.tensor(key: "0", numel: 4, offset: 3, size: [2], stride: [1])),
            ("stride", Pickle.tensor(key: "0", numel: 4, offset: 0, size: [2, 2], stride: [3, 1])),
            ("huge", Pickle.tensor(key: "0", numel: 4, offset: 0, size: [0x7FFF_FFFF, 0x7FFF_FFFF, 0x7FFF_FFFF], stride: [1, 1, 1])),
        ]
        for (name, tensor) in cases {
            let path = try Fixtures.write(torchArchive(pickle: Pickle.proto + Pickle.dict([("t", tensor)]) + Pickle.stop,
                                                       storages: ["0": floatBytes([1, 2, 3, 4])]), name: "view-\(name).pt")
            guard case .badTensor = error(reading: path) else {
                return XCTFail("\(name): expected badTensor, got \(String(describing: error(reading: path)))")
            }
        }
        // A stride-0 view of one element claiming 2^40 elements: refused before any allocation.
        let broadcast = Pickle.proto + Pickle.tensor(key: "0", numel: 1, offset: 0, size: [1 << 20, 1 << 20], stride: [0, 0]) + Pickle.stop
        let pathB = try Fixtures.write(torchArchive(pickle: broadcast, storages: ["0": floatBytes([1])]), name: "broadcast.pt")
        guard case .limitExceeded = error(reading: pathB) else { return XCTFail("broadcast view not capped") }
        // A small broadcast view is materialised.
        let small = Pickle.proto + Pickle.tensor(key: "0", numel: 2, offset: 0, size: [3, 2], stride: [0, 1]) + Pickle.stop
        let pathS = try Fixtures.write(torchArchive(pickle: small, storages: ["0": floatBytes([1, 2])]), name: "smallbroadcast.pt")
        XCTAssertEqual(floats(try CheckpointReader.read(path: pathS).tensors[0].bytes()), [1, 2, 1, 2, 1, 2])
        // numel in the persistent id disagrees with the entry size.
        let wrongSize = Pickle.proto + Pickle.tensor(key: "0", numel: 5, offset: 0, size: [4], stride: [1]) + Pickle.stop
        let path = try Fixtures.write(torchArchive(pickle: wrongSize, storages: ["0": floatBytes([1, 2, 3, 4])]), name: "numel.pt")
        guard case .badTensor = error(reading: path) else { return XCTFail("numel mismatch not caught") }
        let missing = Pickle.proto + Pickle.tensor(key: "7", numel: 1, offset: 0, size: [1], stride: [1]) + Pickle.stop
        let path2 = try Fixtures.write(torchArchive(pickle: missing), name: "missing.pt")
        XCTAssertEqual(error(reading: path2), .missingEntry(path: path2, name: "archive/data/7"))
    }
}
