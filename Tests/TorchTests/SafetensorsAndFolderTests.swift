import Foundation
import XCTest
@testable import TorchFormats

/// safetensors' validation rules, JSON edge cases, and Hugging Face model folders.
final class SafetensorsAndFolderTests: XCTestCase {
    /// A safetensors file from a header text and a data buffer.
    func safetensors(_ header: String, data: [UInt8]) -> [UInt8] {
        let json = Array(header.utf8)
        return le(UInt64(json.count), 8) + json + data
    }

    func safetensorsError(_ header: String, data: [UInt8], limits: ReaderLimits = .init()) throws -> CheckpointError? {
        let path = try Fixtures.write(safetensors(header, data: data), name: "t.safetensors")
        do {
            _ = try CheckpointReader.read(path: path, limits: limits)
            return nil
        } catch let error as CheckpointError {
            return error
        }
    }

    func testValidFileWithMetadataAndConversions() throws {
        let header = #"{"__metadata__":{"format":"pt"},"b":{"dtype":"F64","shape":[2],"data_offsets":[4,20]},"a":{"dtype":"I16","shape":[2],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[20,20]}}"#
        let data = le(UInt64(UInt16(bitPattern: -2)), 2) + le(7, 2) + le(1.5.bitPattern, 8) + le((-0.25).bitPattern, 8)
        let path = try Fixtures.write(safetensors(header, data: data), name: "ok.safetensors")
        let contents = try CheckpointReader.read(path: path)
        XCTAssertEqual(contents.tensors.map(\.name), ["a", "b", "e"], "ordered by data offset")
        XCTAssertEqual(contents.metadata, ["format": "pt"])
        XCTAssertEqual(contents.byName["a"]?.dtype, .i32)
        XCTAssertEqual(try contents.byName["a"]?.bytes(), le(UInt64(UInt32(bitPattern: -2)), 4) + le(7, 4))
        XCTAssertEqual(contents.byName["b"]?.dtype, .f32)
        XCTAssertEqual(floats(try XCTUnwrap(contents.byName["b"]).bytes()), [1.5, -0.25])
        XCTAssertEqual(try contents.byName["e"]?.bytes(), [])
    }

    func testTilingRules() throws {
        let four = [UInt8](repeating: 0, count: 8)
        // A hole between tensors.
        guard case .badSafetensors(_, let hole)? = try safetensorsError(
            #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}}"#, data: four)
        else { return XCTFail("hole") }
        XCTAssertTrue(hole.contains("gap"), hole)
        // Overlapping tensors.
        guard case .badSafetensors(_, let overlap)? = try safetensorsError(
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: four)
        else { return XCTFail("overlap") }
        XCTAssertTrue(overlap.contains("overlaps"), overlap)
        // Trailing bytes nobody owns (a polyglot file).
        guard case .badSafetensors? = try safetensorsError(
            #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: four) else { return XCTFail("trailing") }
        // Offsets past the end of the file.
        guard case .truncated? = try safetensorsError(
            #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: four) else { return XCTFail("past end") }
        // Byte count disagreeing with dtype x shape, and overflowing shapes.
        guard case .badSafetensors? = try safetensorsError(
            #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: four) else { return XCTFail("count") }
        guard case .badSafetensors? = try safetensorsError(
            #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#, data: four) else { return XCTFail("overflow") }
        guard case .badSafetensors? = try safetensorsError(
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: four) else { return XCTFail("reversed") }
        guard case .unsupportedDType(_, "a", "F8_E4M3")? = try safetensorsError(
            #"{"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}"#, data: four) else { return XCTFail("dtype") }
    }

    func testDuplicateNamesAndHeaderLimits() throws {
        guard case .badJSON(_, let reason)? = try safetensorsError(
            #"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}"#,
            data: [UInt8](repeating: 0, count: 8)) else { return XCTFail("duplicate") }
        XCTAssertTrue(reason.contains("duplicate key"))
        // A declared header length beyond the 100 MB cap (and beyond the file).
        let path = try Fixtures.write(le(200_000_000, 8) + Array("{}".utf8), name: "huge.safetensors")
        XCTAssertThrowsError(try CheckpointReader.read(path: path)) { error in
            guard case .limitExceeded = error as? CheckpointError else { return XCTFail("\(error)") }
        }
        var small = ReaderLimits()
        small.maxSafetensorsHeaderBytes = 10
        guard case .limitExceeded? = try safetensorsError(#"{"__metadata__":{}}"#, data: [], limits: small) else {
            return XCTFail("configured cap")
        }
        // Deeply nested JSON in the header.
        let deep = #"{"__metadata__":"# + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}"
        guard case .badJSON? = try safetensorsError(deep, data: []) else { return XCTFail("nesting") }
    }

    func testJSONParser() throws {
        let value = try JSONValue.parse(Array(#"{"a":[1,-2.5e3,true,null,"\u00e9\ud83d\ude00\n"],"big":9007199254740993}"#.utf8), path: "x")
        XCTAssertEqual(value["a"]?.arrayValue?.count, 5)
        XCTAssertEqual(value["a"]?.arrayValue?[1].doubleValue, -2500)
        XCTAssertEqual(value["a"]?.arrayValue?[4].stringValue, "é😀\n")
        XCTAssertEqual(value["big"], .int(9_007_199_254_740_993), "64-bit integers stay exact")
        for bad in ["", "{", "[1,]", "01", "\"\\x\"", "{\"a\" 1}", "nul", "1 2", "\"\\ud800\""] {
            XCTAssertThrowsError(try JSONValue.parse(Array(bad.utf8), path: "x"), bad)
        }
    }

    func testHuggingFaceFolders() throws {
        let bin = try HFModelFolder.open(path: Fixtures.path("hf-gpt2-bin"))
        XCTAssertEqual(bin.config["n_embd"]?.intValue, 16)
        XCTAssertEqual(bin.weights.kind, .torchZip)
        XCTAssertEqual(bin.files, ["config.json", "pytorch_model.bin"])

        let single = try HFModelFolder.open(path: Fixtures.path("hf-gpt2-safetensors"))
        XCTAssertEqual(single.weights.kind, .safetensors)
        XCTAssertTrue(single.files.contains("vocab.json"))
        XCTAssertEqual(single.config["model_type"]?.stringValue, "gpt2")

        let sharded = try HFModelFolder.open(path: Fixtures.path("hf-gpt2-sharded"))
        let expected = try XCTUnwrap(FixtureTests.expected["hf-gpt2-sharded"] as? [String: Any])
        XCTAssertEqual(sharded.weights.tensors.map(\.name).sorted(), expected["names"] as? [String])
        XCTAssertTrue(sharded.weights.notes.first?.contains("3 shards") == true, "\(sharded.weights.notes)")
        // Sharded and single-file safetensors hold the same tensors, bit for bit.
        for tensor in sharded.weights.tensors {
            XCTAssertEqual(try tensor.bytes(), try single.weights.byName[tensor.name]?.bytes(), tensor.name)
        }
    }

    func testBrokenFolders() throws {
        let folder = Fixtures.scratch.appendingPathComponent("folder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        XCTAssertThrowsError(try HFModelFolder.open(path: folder.path)) { error in
            XCTAssertTrue("\(error)".contains("config.json is missing"), "\(error)")
        }
        try Data("{\"model_type\":\"gpt2\"}".utf8).write(to: folder.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try HFModelFolder.open(path: folder.path)) { error in
            XCTAssertTrue("\(error)".contains("no weights"), "\(error)")
        }
        let index = #"{"weight_map":{"a":"../outside.safetensors"}}"#
        try Data(index.utf8).write(to: folder.appendingPathComponent("model.safetensors.index.json"))
        XCTAssertThrowsError(try HFModelFolder.open(path: folder.path)) { error in
            XCTAssertTrue("\(error)".contains("invalid shard file name"), "\(error)")
        }
        try Data(#"{"weight_map":{"a":"model-1.safetensors"}}"#.utf8).write(to: folder.appendingPathComponent("model.safetensors.index.json"))
        XCTAssertThrowsError(try HFModelFolder.open(path: folder.path)) { error in
            XCTAssertTrue("\(error)".contains("shard model-1.safetensors is missing"), "\(error)")
        }
        XCTAssertThrowsError(try HFModelFolder.open(path: "/nonexistent-folder"))
    }
}
