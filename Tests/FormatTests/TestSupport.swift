import Foundation
import XCTest
@testable import CCMFormat
import TestSupport

/// A fresh temporary folder, removed by the test's teardown.
func makeTemporaryFolder(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ccm-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}

func readBytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
/// Writes without fsync (Data.write syncs, which makes thousands of small writes slow).
func writeBytes(_ bytes: [UInt8], to path: String) throws {
    guard let f = fopen(path, "wb") else { throw CocoaError(.fileWriteUnknown) }
    defer { fclose(f) }
    guard bytes.withUnsafeBytes({ fwrite($0.baseAddress, 1, $0.count, f) }) == bytes.count else { throw CocoaError(.fileWriteUnknown) }
}


/// Little-endian bytes of `values`.
func leBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

/// Deterministic bytes for a tensor of `dtype` with `count` elements (weight-like for floats).
func sampleBytes(_ dtype: DType, count: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    switch dtype {
    case .f32:
        let v = (0..<count).map { _ in Float.random(in: -0.1...0.1, using: &rng) }
        return v.withUnsafeBytes { Array($0) }
    case .f16:
        return leBytes((0..<count).map { _ in Float16(Float.random(in: -1...1, using: &rng)).bitPattern })
    case .bf16:
        return leBytes((0..<count).map { _ in UInt16(Float.random(in: -1...1, using: &rng).bitPattern >> 16) })
    case .i8, .u8:
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    case .i32:
        return leBytes((0..<count).map { _ in Int32.random(in: -1000...1000, using: &rng) })
    case .i64:
        return leBytes((0..<count).map { _ in Int64.random(in: -1_000_000...1_000_000, using: &rng) })
    }
}

/// A small but complete model: every dtype, every encoding, a quantized tensor, graphs, tokenizer.
enum SampleModel {
    static let metadata = Metadata([
        ("clipcap.architecture", .string("test: clip + mlp + gpt2")),
        ("clipcap.mapping", .string("mlp")),
        ("clipcap.prefix_length", .int(10)),
        ("clipcap.normalize_prefix", .bool(true)),
        ("image.mean", .floats([0.48145466, 0.4578275, 0.40821073])),
        ("generation.stop_token_ids", .ints([13, 50256])),
        ("generation.stop_strings", .strings([".", "\n"])),
        ("generation.join", .string("")),
        ("quantization.scheme", .string("per_channel")),
        ("unicode.ключ", .string("中文 ✓")),
    ])

    static let graphs = [
        ComputeGraph(name: "mapper",
                     inputs: [ValueSpec(name: "image_embedding", dtype: .f32, shape: [.fixed(1), .fixed(512)])],
                     outputs: ["prefix_embeddings"],
                     nodes: [
                        GraphNode(name: "fc1", op: "linear", inputs: ["image_embedding", "mapper.w", "mapper.b"], outputs: ["h"],
                                  attrs: ["w_layout": .string("io"), "activation": .string("tanh")]),
                        GraphNode(name: "reshape", op: "reshape", inputs: ["h"], outputs: ["prefix_embeddings"],
                                  attrs: ["shape": .ints([1, 10, -1]), "eps": .float(1e-5), "inf": .float(.infinity),
                                          "start": .symbol("n_past"), "f": .floats([0.1, -2.5e-12])]),
                     ]),
        ComputeGraph(name: "decoder",
                     inputs: [ValueSpec(name: "inputs_embeds", dtype: .f32, shape: [.symbol("B"), .symbol("T"), .fixed(768)])],
                     outputs: ["logits"],
                     states: [ValueSpec(name: "k_cache.0", dtype: .f32, shape: [.symbol("B"), .symbol("max_ctx"), .fixed(768)])],
                     nodes: [GraphNode(name: "n", op: "attention_cached", inputs: ["q", "k", "v", "k_cache.0", ""], outputs: ["logits"],
                                       attrs: ["heads": .int(12)])]),
    ]

    static let tokenizer = TokenizerSpec(kind: "bpe", vocab: ["!", "\"", "Ġthe", "", "中"], merges: ["Ġ t", "h e"],
                                         options: Metadata([("add_prefix_space", .bool(false)), ("unk_token", .string("<|endoftext|>"))]))

    /// (name, dtype, shape, encoding, quantization) of every tensor.
    static var specs: [(String, DType, [Int], TensorEncoding, QuantizationInfo?)] {
        var s: [(String, DType, [Int], TensorEncoding, QuantizationInfo?)] = []
        for dtype in DType.allCases {
            for encoding in TensorEncoding.allCases {
                s.append(("\(dtype).\(encoding.rawValue).matrix", dtype, [3, 37], encoding, nil))
            }
        }
        s.append(("scalar", .f32, [], .raw, nil))
        s.append(("scalar.z", .i64, [], .zstd, nil))
        s.append(("empty", .f32, [0, 4], .raw, nil))
        s.append(("empty.z", .f16, [5, 0], .shuffledZstd, nil))
        s.append(("q.scales", .f32, [4], .raw, nil))
        s.append(("q.weight", .i8, [4, 6], .raw, QuantizationInfo(scheme: "per_channel", scalesTensor: "q.scales", axis: 0)))
        s.append(("qb.scales", .f32, [4, 2], .zstd, nil))
        s.append(("qb.weight", .i8, [4, 6], .shuffledZstd, QuantizationInfo(scheme: "block", scalesTensor: "qb.scales", axis: 0, blockSize: 4)))
        return s
    }

    static func bytes(of index: Int) -> [UInt8] {
        let (_, dtype, shape, _, _) = specs[index]
        return sampleBytes(dtype, count: shape.reduce(1, *), seed: UInt64(index) + 1)
    }

    static func writer() -> ModelWriter {
        var w = ModelWriter(metadata: metadata, graphs: graphs, tokenizer: tokenizer)
        for (i, (name, dtype, shape, encoding, q)) in specs.enumerated() {
            let data = bytes(of: i)
            w.add(TensorSource(name: name, dtype: dtype, shape: shape, encoding: encoding, quantization: q, bytes: data))
        }
        return w
    }

    /// Writes the sample model into `folder` and returns its path.
    static func write(in folder: String, name: String = "model.ccm") throws -> String {
        let path = folder + "/" + name
        try writer().write(to: path)
        return path
    }
}

/// Reads and rewrites the structures of a valid file, for crafting corrupt ones that pass checksums.
struct FileSurgery {
    var bytes: [UInt8]

    func u32(_ at: Int) -> UInt32 { bytes[at..<(at + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
    func u64(_ at: Int) -> UInt64 { bytes[at..<(at + 8)].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
    mutating func setU32(_ v: UInt32, at: Int) { for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
    mutating func setU64(_ v: UInt64, at: Int) { for i in 0..<8 { bytes[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) } }

    var sectionCount: Int { Int(u32(20)) }
    var tableOffset: Int { Int(u64(24)) }

    /// (entry offset, kind, offset, length) of each section.
    var sections: [(entry: Int, kind: UInt32, offset: Int, length: Int)] {
        (0..<sectionCount).map { i in
            let e = tableOffset + 32 * i
            return (e, u32(e), Int(u64(e + 8)), Int(u64(e + 16)))
        }
    }

    func section(_ kind: SectionKind) -> (entry: Int, kind: UInt32, offset: Int, length: Int) {
        sections.first { $0.kind == kind.rawValue }!
    }

    /// Recomputes every checksum so that only structural checks can catch a change.
    /// Tolerates garbage (used by the mutation test): skips whatever lies outside the file.
    mutating func resign() {
        guard bytes.count >= 64 else { return }
        let count = Int(u32(20)), table = u64(24)
        if count <= 64, table <= UInt64(bytes.count), UInt64(bytes.count) - table >= UInt64(count * 32) {
            let t = Int(table)
            for i in 0..<count {
                let e = t + 32 * i
                let flags = u32(e + 4), off = u64(e + 8), len = u64(e + 16)
                if flags & 2 != 0, off <= UInt64(bytes.count), len <= UInt64(bytes.count) - off {
                    let crc = CRC32C.checksum(Array(bytes[Int(off)..<Int(off + len)]))
                    setU32(crc, at: e + 24)
                }
            }
            setU32(CRC32C.checksum(Array(bytes[t..<(t + count * 32)])), at: 40)
        }
        setU32(CRC32C.checksum(Array(bytes[0..<60])), at: 60)
    }

    /// Replaces the tensor table with `transform(entries)`; the new table must keep its length.
    mutating func rewriteTensors(_ transform: ([TensorEntry]) -> [TensorEntry]) throws {
        let layout = try bytes.withUnsafeBytes { try FileLayout.parse($0, path: "surgery") }
        var w = ByteWriter()
        TensorTableCodec.encode(transform(layout.tensors), into: &w)
        let s = section(.tensorTable)
        precondition(w.bytes.count == s.length, "rewriteTensors must keep the table length")
        bytes.replaceSubrange(s.offset..<(s.offset + s.length), with: w.bytes)
        resign()
    }

    /// Appends a section (its body, then a new section table) and points the header at it.
    mutating func appendSection(kind: UInt32, flags: UInt32, body: [UInt8]) {
        let oldTable = Array(bytes[tableOffset..<(tableOffset + 32 * sectionCount)])
        while bytes.count % 8 != 0 { bytes.append(0) }
        let offset = bytes.count
        bytes += body
        while bytes.count % 8 != 0 { bytes.append(0) }
        let newTable = bytes.count
        var entry = FileSurgery(bytes: [UInt8](repeating: 0, count: 32))
        entry.setU32(kind, at: 0)
        entry.setU32(flags, at: 4)
        entry.setU64(UInt64(offset), at: 8)
        entry.setU64(UInt64(body.count), at: 16)
        bytes += oldTable + entry.bytes
        setU32(UInt32(oldTable.count / 32 + 1), at: 20)
        setU64(UInt64(newTable), at: 24)
        setU64(UInt64(bytes.count), at: 32)
        resign()
    }
}

/// The error `ModelFile.open` throws for `path`, failing the test when it opens or throws something else.
func openError(_ path: String, options: OpenOptions = .init(), file: StaticString = #filePath, line: UInt = #line) -> ModelFileError? {
    do {
        _ = try ModelFile.open(path: path, options: options)
        XCTFail("\(path) opened but should not have", file: file, line: line)
    } catch let e as ModelFileError {
        return e
    } catch {
        XCTFail("untyped error \(error)", file: file, line: line)
    }
    return nil
}
