import Foundation
import XCTest
@testable import CCMFormat

final class InspectorTests: XCTestCase {
    func testTextDescription() throws {
        let file = try ModelFile.open(path: try SampleModel.write(in: try makeTemporaryFolder(self)))
        let text = ModelInspector.describe(file, options: InspectOptions(listTensors: true))
        XCTAssertTrue(text.contains(".ccm format version 1"))
        for fragment in ["metadata", "tensor table", "tensor data", "graphs", "tokenizer"] {
            XCTAssertTrue(text.contains("  " + fragment), "section \(fragment)")
        }
        XCTAssertTrue(text.contains("clipcap.prefix_length = 10 (int)"))
        XCTAssertTrue(text.contains("generation.stop_strings = [., \\n] (strings×2)"))
        XCTAssertTrue(text.contains("tensors: \(SampleModel.specs.count),"))
        XCTAssertTrue(text.contains("per_channel axis 0, scales q.scales [4] raw"), text)
        XCTAssertTrue(text.contains("block block 4, scales qb.scales [4, 2] zstd"), text)
        XCTAssertTrue(text.contains("mapper: 2 nodes; inputs image_embedding: f32[1, 512]; outputs prefix_embeddings"), text)
        XCTAssertTrue(text.contains("tokenizer: bpe, 5 tokens, 2 merges"))
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.contains("f32.2.matrix") })
        XCTAssertTrue(line.contains("shuffle+zstd") && line.contains("[3, 37]") && line.contains("444 B"), String(line))
        XCTAssertFalse(ModelInspector.describe(file).contains("f32.2.matrix"), "tensors are listed only on request")
    }

    func testGraphListing() throws {
        let file = try ModelFile.open(path: try SampleModel.write(in: try makeTemporaryFolder(self)))
        let text = ModelInspector.describe(file, options: InspectOptions(graph: "mapper"))
        XCTAssertTrue(text.contains("graph mapper (2 nodes)"))
        XCTAssertTrue(text.contains("  input  image_embedding: f32[1, 512]"))
        XCTAssertTrue(text.contains("  h = linear(image_embedding, mapper.w, mapper.b) {activation=\"tanh\", w_layout=\"io\"}"), text)
        XCTAssertTrue(text.contains("prefix_embeddings = reshape(h) {eps=1e-05, f=[0.1,-2.5e-12], inf=inf, shape=[1,10,-1], start=$n_past}"), text)
        XCTAssertTrue(text.contains("  output prefix_embeddings"))
        let decoder = ModelInspector.describe(graph: SampleModel.graphs[1])
        XCTAssertTrue(decoder.contains("  state  k_cache.0: f32[B, max_ctx, 768]"))
        XCTAssertTrue(decoder.contains("attention_cached(q, k, v, k_cache.0, _)"), decoder)
        XCTAssertTrue(ModelInspector.describe(file, options: InspectOptions(graph: "nope")).contains("no graph named 'nope'; graphs: mapper, decoder"))
    }

    func testJSONDescription() throws {
        let file = try ModelFile.open(path: try SampleModel.write(in: try makeTemporaryFolder(self)))
        let json = ModelInspector.json(file, options: InspectOptions(listTensors: true, graph: "decoder"))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(object["version"] as? Int, 1)
        XCTAssertEqual(object["file_size"] as? Int, file.fileSize)
        let meta = try XCTUnwrap(object["metadata"] as? [[String: Any]])
        XCTAssertEqual(meta.first { $0["key"] as? String == "clipcap.normalize_prefix" }?["value"] as? Bool, true)
        XCTAssertEqual(meta.first { $0["key"] as? String == "generation.stop_token_ids" }?["value"] as? [Int], [13, 50256])
        let tensors = try XCTUnwrap(object["tensors"] as? [[String: Any]])
        XCTAssertEqual(tensors.count, SampleModel.specs.count)
        let q = try XCTUnwrap(tensors.first { $0["name"] as? String == "q.weight" }?["quantization"] as? [String: Any])
        XCTAssertEqual(q["scales_tensor"] as? String, "q.scales")
        let graph = try XCTUnwrap(object["graph"] as? [String: Any])
        XCTAssertEqual(graph["name"] as? String, "decoder")
        // Plain JSON, not Swift's encodings of the enums: dtypes by name, symbols by name.
        let input = try XCTUnwrap((graph["inputs"] as? [[String: Any]])?.first)
        XCTAssertEqual(input["dtype"] as? String, file.graph(named: "decoder")?.inputs.first?.dtype.description)
        let shape = try XCTUnwrap(input["shape"] as? [Any])
        XCTAssertEqual(shape.map { "\($0)" }, file.graph(named: "decoder")?.inputs.first?.shape.map(\.description))
        XCTAssertFalse(json.contains("\"_0\"") || json.contains("\\/"), json)
        XCTAssertFalse(json.contains("\n"), "inspect --json is one line")
        XCTAssertEqual((object["tokenizer"] as? [String: Any])?["vocab_size"] as? Int, 5)
    }
}
