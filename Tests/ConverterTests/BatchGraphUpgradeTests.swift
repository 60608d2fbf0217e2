import CCMFormat
import Ops
import Foundation
import XCTest
@testable import ModelConverter

/// `BatchGraphUpgrade`: an older decoder graph gets per-row inputs; graphs that use `$n_past`
/// in any other way are refused; an upgraded graph is left alone; the new converter's decoder
/// needs no upgrade.
final class BatchGraphUpgradeTests: XCTestCase {
    func oldDecoder(extra: [GraphNode] = []) -> ComputeGraph {
        let d = 4
        let states = [ValueSpec(name: "k_cache.0", dtype: .f32, shape: [.symbol("B"), .symbol("max_ctx"), .fixed(d)]),
                      ValueSpec(name: "v_cache.0", dtype: .f32, shape: [.symbol("B"), .symbol("max_ctx"), .fixed(d)])]
        let nodes = [
            GraphNode(name: "positions", op: "slice", inputs: ["wpe"], outputs: ["positions"],
                      attrs: ["axis": .int(0), "start": .symbol("n_past"), "length": .symbol("T")]),
            GraphNode(name: "x", op: "add", inputs: ["inputs_embeds", "positions"], outputs: ["x"]),
            GraphNode(name: "attn", op: "attention_cached", inputs: ["x", "x", "x", "k_cache.0", "v_cache.0"], outputs: ["attn"],
                      attrs: ["heads": .int(2)]),
        ] + extra
        return ComputeGraph(name: "decoder",
                            inputs: [ValueSpec(name: "inputs_embeds", dtype: .f32, shape: [.symbol("B"), .symbol("T"), .fixed(d)])],
                            outputs: [extra.last?.outputs[0] ?? "attn"], states: states, nodes: nodes)
    }

    func testOldDecoderGetsPerRowInputsAndValidates() throws {
        let (graph, report) = try XCTUnwrap(try BatchGraphUpgrade.perRowDecoder(oldDecoder(), path: "m.ccm"))
        XCTAssertEqual(report.positionTables, ["wpe"])
        XCTAssertEqual(report.attentionNodes, 1)
        XCTAssertEqual(graph.inputs.map(\.name), ["inputs_embeds", "position_ids", "past_lengths"])
        XCTAssertEqual(graph.nodes[0].op, "gather")
        XCTAssertEqual(graph.nodes[0].inputs, ["wpe", "position_ids"])
        XCTAssertEqual(graph.nodes[2].inputs.last, "past_lengths")
        try GraphValidator.validate(graph, tensors: ["wpe": (.f32, [16, 4])])
        XCTAssertNil(try BatchGraphUpgrade.perRowDecoder(graph, path: "m.ccm"), "already upgraded")
    }

    func testOtherUsesOfNPastAreRefused() {
        let odd = GraphNode(name: "shift", op: "slice", inputs: ["attn"], outputs: ["shift"],
                            attrs: ["axis": .int(1), "start": .symbol("n_past"), "length": .int(1)])
        XCTAssertThrowsError(try BatchGraphUpgrade.perRowDecoder(oldDecoder(extra: [odd]), path: "m.ccm")) {
            XCTAssertTrue("\($0)".contains("m.ccm") && "\($0)".contains("'shift'"), "\($0)")
        }
    }

    func testConverterDecoderIsPerRow() throws {
        let settings = GPT2Settings(hidden: 8, vocab: 10, layers: 1, heads: 2, positions: 16, inner: 16, layerNormEps: 1e-5,
                                    activation: "gelu_tanh", scaleAttention: true, scaleByLayer: false, tiedHead: true)
        let decoder = GPT2Converter.buildDecoder(settings)
        XCTAssertEqual(decoder.inputs.map(\.name), ["inputs_embeds", "position_ids", "past_lengths"])
        XCTAssertNil(try BatchGraphUpgrade.perRowDecoder(decoder, path: "m.ccm"))
    }
}
