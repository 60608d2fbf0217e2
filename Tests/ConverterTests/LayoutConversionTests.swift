import CCMFormat
import Foundation
import XCTest
@testable import ModelConverter

/// Every fixture layout converts, and every stored tensor equals the PyTorch tensor bit for bit
/// after the transposition docs/CONVERT.md documents (checked by SHA-256 of the f32 bytes that
/// tools/make_fixtures.py computed with PyTorch).
final class LayoutConversionTests: XCTestCase {
    func testManifestIsPresent() throws {
        XCTAssertEqual(Set((Fixtures.manifest["layouts"] as? [String: Any])?.keys.map { $0 } ?? []), Set(Fixtures.layoutKeys),
                       "run tools/make_fixtures.py to regenerate Tests/Fixtures/models")
    }

    func testEveryClipCapLayoutConvertsWithExactTensors() throws {
        let dir = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for key in Fixtures.layoutKeys {
            let layout = try XCTUnwrap(Fixtures.layout(key))
            let out = dir + "/\(key).ccm"
            let summary = try Converter.convert(Fixtures.options(layout, output: out))
            XCTAssertEqual(summary.mapping, layout.mapping, key)
            XCTAssertEqual(summary.prefixLength, layout.prefixLength, key)
            XCTAssertTrue(summary.tiedLMHead, "\(key): the fixtures' LM heads are tied to wte")
            let file = try ModelFile.open(path: out)
            try assertTensorsMatch(file, layout, dtype: .f32)
            XCTAssertEqual(file.tensors.count, layout.tensors.count,
                           "\(key): the file has tensors the reference does not know: \(Set(file.tensors.map(\.name)).subtracting(layout.tensors.keys).sorted())")
            try assertGraphs(file, layout)
            try assertMetadata(file, layout)
        }
    }

    /// The three CLIP layouts hold the same (fp16-representable) values, so all give identical tensors.
    func testEveryClipLayoutGivesTheSameTensors() throws {
        let layout = try XCTUnwrap(Fixtures.layout("en-transformer"))
        let dir = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, clip) in [("jit", Fixtures.clipJIT), ("state-dict", Fixtures.clipStateDict),
                             ("hf-folder", Fixtures.clipHFFolder), ("hf-safetensors", Fixtures.clipHFSafetensors)] {
            let out = dir + "/\(name).ccm"
            let summary = try Converter.convert(Fixtures.options(layout, clip: clip, output: out))
            let file = try ModelFile.open(path: out)
            try assertTensorsMatch(file, layout, dtype: .f32, only: "clip.")
            XCTAssertEqual(file.metadata["image.size"]?.intValue, 224, name)
            XCTAssertEqual(file.metadata["image.mean"]?.doublesValue ?? [], ClipVisionConverter.openAIMean, name)
            if name == "jit" || name == "state-dict" {
                // The text tower and OpenAI's three bookkeeping entries are skipped, and said so.
                let skipped = summary.skipped["clip"] ?? []
                XCTAssertTrue(skipped.contains("token_embedding.weight"), "\(name): \(skipped)")
                XCTAssertTrue(skipped.contains("input_resolution"), "\(name): \(skipped)")
                XCTAssertTrue(skipped.contains("ln_final.weight"), "\(name): \(skipped)")
            }
        }
    }

    func testHalfPrecisionAndCompression() throws {
        let layout = try XCTUnwrap(Fixtures.layout("zh-mlp"))
        let dir = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/f16.ccm"
        _ = try Converter.convert(Fixtures.options(layout, output: out, dtype: .f16, encoding: .shuffledZstd))
        let file = try ModelFile.open(path: out)
        XCTAssertEqual(file.metadata["converter.dtype"]?.stringValue, "f16")
        // Matrices are f16 (rounded from the f32 values); vectors and added embeddings stay f32.
        XCTAssertEqual(file.tensor(named: "gpt2.wte")?.dtype, .f16)
        XCTAssertEqual(file.tensor(named: "gpt2.h.0.attn.c_attn.weight")?.dtype, .f16)
        XCTAssertEqual(file.tensor(named: "gpt2.h.0.attn.c_attn.bias")?.dtype, .f32)
        XCTAssertEqual(file.tensor(named: "gpt2.wpe")?.dtype, .f32)
        XCTAssertEqual(file.tensor(named: "clip.positional_embedding")?.dtype, .f32)
        XCTAssertEqual(file.tensor(named: "gpt2.wte")?.encoding, .shuffledZstd)
        // CLIP weights were fp16 to begin with: narrowing them back is exact.
        let f16 = try XCTUnwrap(Fixtures.bytes(file, "clip.patch_embed.weight"))
        let widened = ElementConversion.encodeF32(ElementConversion.decodeF16(f16))
        XCTAssertEqual(SHA256.hex(widened), layout.tensors["clip.patch_embed.weight"]?.sha256)
        // A GPT-2 matrix: each value is the nearest f16 of the reference's first values.
        let wte = ElementConversion.decodeF16(try XCTUnwrap(Fixtures.bytes(file, "gpt2.wte")))
        for (i, value) in (layout.tensors["gpt2.wte"]?.first ?? []).enumerated() {
            XCTAssertEqual(wte[i], Float(Float16(value)))
        }
        try assertGraphs(file, layout)
    }

    // MARK: - helpers

    private func assertTensorsMatch(_ file: ModelFile, _ layout: Fixtures.Layout, dtype: DType, only prefix: String = "",
                                    line: UInt = #line) throws {
        var checked = 0
        for (name, expected) in layout.tensors where name.hasPrefix(prefix) {
            guard let entry = file.tensor(named: name) else {
                XCTFail("\(layout.key): tensor \(name) missing from the .ccm", line: line)
                continue
            }
            XCTAssertEqual(entry.shape, expected.shape, "\(layout.key): \(name) shape", line: line)
            XCTAssertEqual(entry.dtype, dtype, "\(layout.key): \(name) dtype", line: line)
            let bytes = Array(try file.bytes(of: entry))
            XCTAssertEqual(SHA256.hex(bytes), expected.sha256, "\(layout.key): \(name) differs from PyTorch", line: line)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 10, line: line)
    }

    private func assertGraphs(_ file: ModelFile, _ layout: Fixtures.Layout) throws {
        XCTAssertEqual(file.graphs.map(\.name), ["image_encoder", "mapper", "token_embedding", "decoder"])
        var table: [String: (DType, [Int])] = [:]
        for entry in file.tensors { table[entry.name] = (entry.dtype, entry.shape) }
        for graph in file.graphs {
            XCTAssertNoThrow(try GraphValidator.validate(graph, tensors: table), "\(layout.key): \(graph.name)")
        }
        let decoder = try XCTUnwrap(file.graph(named: "decoder"))
        XCTAssertEqual(decoder.states.count, 2 * (file.metadata["decoder.layers"]?.intValue ?? -1))
        let mapper = try XCTUnwrap(file.graph(named: "mapper"))
        XCTAssertEqual(mapper.nodes.first?.op == "l2_normalize", layout.normalizePrefix, layout.key)
    }

    private func assertMetadata(_ file: ModelFile, _ layout: Fixtures.Layout) throws {
        let m = file.metadata
        XCTAssertEqual(m["clipcap.mapping"]?.stringValue, layout.mapping)
        XCTAssertEqual(m["clipcap.prefix_length"]?.intValue, layout.prefixLength)
        XCTAssertEqual(m["clipcap.normalize_prefix"]?.boolValue, layout.normalizePrefix)
        XCTAssertEqual(m["decoder.vocab_size"]?.intValue, layout.vocabSize)
        XCTAssertEqual(m["decoder.max_context"]?.intValue, 64)
        XCTAssertEqual(m["decoder.hidden_size"]?.intValue, 32)
        XCTAssertEqual(m["decoder.layers"]?.intValue, 2)
        XCTAssertEqual(m["image.resize"]?.stringValue, "shorter_side_bicubic")
        XCTAssertEqual(m["quantization.scheme"]?.stringValue, "none")
        XCTAssertNotNil(m["converter.version"]?.stringValue)
        let stops = m["generation.stop_token_ids"]?.intsValue ?? []
        let banned = m["generation.banned_token_ids"]?.intsValue ?? []
        if layout.mapping == "bert" || layout.key.hasPrefix("zh") {
            XCTAssertEqual(m["tokenizer.kind"]?.stringValue, "wordpiece")
            XCTAssertEqual(stops, [102])
            XCTAssertEqual(banned, [100])
            XCTAssertEqual(m["generation.join"]?.stringValue, "")
            XCTAssertEqual(file.tokenizer?.vocab.count, 1000)
        } else {
            XCTAssertEqual(m["tokenizer.kind"]?.stringValue, "bpe")
            XCTAssertEqual(stops, [layout.stopTokenIDs[0]], "<|endoftext|>")
            // Original ClipCap stops on the id of '.', not on any token containing '.'.
            XCTAssertEqual(m["generation.stop_strings"]?.stringsValue, [])
            XCTAssertEqual(m["generation.kept_stop_token_ids"]?.intsValue, [layout.stopTokenIDs[1]], "'.'")
            XCTAssertFalse(file.tokenizer?.merges.isEmpty ?? true)
        }
        // Provenance: the checkpoint's SHA-256, computed here independently of the converter's reader.
        let data = try XCTUnwrap(FileManager.default.contents(atPath: layout.checkpoint))
        XCTAssertEqual(m["source.checkpoint.sha256"]?.stringValue, SHA256.hex([UInt8](data)))
        XCTAssertEqual(m["source.checkpoint.file"]?.stringValue, URL(fileURLWithPath: layout.checkpoint).lastPathComponent)
    }
}
