import Foundation
import XCTest
@testable import TorchFormats
import TestSupport

/// Every committed fixture reads, and every tensor matches expected.json (written by
/// tools/make_torch_test_files.py from PyTorch itself) bit for bit: same names in the same
/// order, dtypes, shapes, and the sha256 of the contiguous little-endian bytes.
final class FixtureTests: XCTestCase {
    struct ExpectedTensor {
        let name: String
        let dtype: String
        let shape: [Int]
        let sha256: String
    }

    static var expected: [String: Any] {
        guard let data = try? Data(contentsOf: Fixtures.folder.appendingPathComponent("expected.json")),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return object
    }

    func expectedTensors(_ key: String) throws -> (kind: String, tensors: [ExpectedTensor]) {
        let entry = try XCTUnwrap(Self.expected[key] as? [String: Any], "expected.json has no \(key)")
        let list = try XCTUnwrap(entry["tensors"] as? [[String: Any]])
        let tensors = try list.map { item in
            ExpectedTensor(name: try XCTUnwrap(item["name"] as? String), dtype: try XCTUnwrap(item["dtype"] as? String),
                           shape: try XCTUnwrap(item["shape"] as? [Int]), sha256: try XCTUnwrap(item["sha256"] as? String))
        }
        return (try XCTUnwrap(entry["kind"] as? String), tensors)
    }

    /// Reads `key` and compares everything with expected.json.
    func checkFixture(_ key: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (kind, expected) = try expectedTensors(key)
        let contents = try CheckpointReader.read(path: Fixtures.path(key))
        XCTAssertEqual(contents.kind.rawValue, kind, file: file, line: line)
        XCTAssertEqual(contents.tensors.map(\.name), expected.map(\.name), "names and order", file: file, line: line)
        for (tensor, want) in zip(contents.tensors, expected) {
            XCTAssertEqual(tensor.dtype.description, want.dtype, tensor.name, file: file, line: line)
            XCTAssertEqual(tensor.shape, want.shape, tensor.name, file: file, line: line)
            let bytes = try tensor.bytes()
            XCTAssertEqual(bytes.count, tensor.byteCount, tensor.name, file: file, line: line)
            XCTAssertEqual(SHA256.hex(bytes), want.sha256, "bytes of \(tensor.name)", file: file, line: line)
        }
    }

    func testSHA256MatchesKnownVector() {
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testStateDictWithViewsDtypesAndNesting() throws {
        try checkFixture("state_dict.pt")
        let contents = try CheckpointReader.read(path: Fixtures.path("state_dict.pt"))
        XCTAssertTrue(contents.notes.contains("skipped 2 non-tensor entries"), "\(contents.notes)")
        // The transposed view is materialised row-major: element [i][j] of the (5, 3) view.
        let transposed = try XCTUnwrap(contents.byName["transposed"])
        XCTAssertEqual(transposed.shape, [5, 3])
        let base = try XCTUnwrap(contents.byName["strided_slice"])
        XCTAssertEqual(floats(try base.bytes()), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22])
    }

    func testBigEndianFileIsByteSwapped() throws {
        try checkFixture("big_endian.pt")
        let contents = try CheckpointReader.read(path: Fixtures.path("big_endian.pt"))
        XCTAssertEqual(floats(try XCTUnwrap(contents.byName["b"]).bytes()), [0, 1, 2, 3, 4])
    }

    func testHuggingFacePytorchModelBin() throws {
        try checkFixture("hf-gpt2-bin/pytorch_model.bin")
        let contents = try CheckpointReader.read(path: Fixtures.path("hf-gpt2-bin/pytorch_model.bin"))
        // Tied weights: lm_head.weight and transformer.wte.weight share one storage.
        let head = try XCTUnwrap(contents.byName["lm_head.weight"])
        let wte = try XCTUnwrap(contents.byName["transformer.wte.weight"])
        XCTAssertEqual(try head.bytes(), try wte.bytes())
        XCTAssertEqual(head.shape, [50, 16])
    }

    func testSafetensors() throws {
        try checkFixture("hf-gpt2-safetensors/model.safetensors")
    }

    func testTorchScriptCLIPArchive() throws {
        try checkFixture("clip_tiny_jit.pt")
        let contents = try CheckpointReader.read(path: Fixtures.path("clip_tiny_jit.pt"))
        XCTAssertEqual(contents.byName["visual.transformer.resblocks.0.attn.in_proj_weight"]?.dtype, .f16)
        XCTAssertEqual(contents.byName["visual.transformer.resblocks.0.attn.in_proj_weight"]?.shape, [96, 32])
        XCTAssertEqual(contents.byName["input_resolution"]?.shape, [])
        XCTAssertTrue(contents.notes.contains { $0.contains("TorchScript") })
    }

    func testEveryPickleFixtureIsDetectedByContentNotExtension() throws {
        // Same bytes, misleading extension.
        let path = try Fixtures.write(try Fixtures.bytes("hf-gpt2-safetensors/model.safetensors"), name: "weights.pt")
        XCTAssertEqual(try CheckpointReader.read(path: path).kind, .safetensors)
    }
}
