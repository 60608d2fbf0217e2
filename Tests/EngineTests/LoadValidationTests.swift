import CCMFormat
import ClipCap
@testable import Engine
import Foundation
import Ops
import TestSupport
import XCTest

/// Validation at load (docs/ENGINE.md, "Validation at load"): one crafted file per rule, each
/// written by `ModelWriter` so that every checksum is valid and only the rule can refuse it.
/// Each must fail `CaptionModel.load` with an error naming the file and the fault — never a
/// trap, never an allocation the model does not need.
final class LoadValidationTests: XCTestCase {
    var dir = ""
    var good = ""

    override func setUpWithError() throws {
        ClipCap.registerStandardBackends()
        dir = TinyModel.temporaryDirectory()
        good = try TinyModel.write(to: dir + "/good.ccm")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// The good file's graphs, metadata and tensors, edited by `edit`, written to a new file.
    private func crafted(_ name: String, _ edit: (inout Metadata, inout [ComputeGraph]) -> Void) throws -> String {
        try CraftedModel.write(from: good, to: dir + "/" + name + ".ccm", edit)
    }

    /// Edits the node called `node` of graph `graph`.
    private func editNode(_ graphs: inout [ComputeGraph], _ graph: String, _ node: String, _ edit: (inout GraphNode) -> Void) {
        guard let g = graphs.firstIndex(where: { $0.name == graph }), let n = graphs[g].nodes.firstIndex(where: { $0.name == node }) else {
            return XCTFail("no node \(node) in \(graph)")
        }
        edit(&graphs[g].nodes[n])
    }

    private func index(_ graphs: [ComputeGraph], _ name: String) -> Int { graphs.firstIndex { $0.name == name }! }

    /// Loading `path` fails on every backend with a message naming the file and containing `mentions`.
    private func assertRefused(_ path: String, mentions: [String], file: StaticString = #filePath, line: UInt = #line) {
        for backend in ["naive", "blas", "int8"] {
            XCTAssertThrowsError(try CaptionModel.load(path: path, options: LoadOptions(backend: backend, threads: 1)), file: file, line: line) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(path), "the message should name the file: \(message)", file: file, line: line)
                for m in mentions {
                    XCTAssertTrue(message.contains(m), "expected '\(m)' in: \(message)", file: file, line: line)
                }
            }
        }
    }

    func testTheUneditedFileLoads() throws {
        let path = try crafted("same") { _, _ in }
        XCTAssertNoThrow(try CaptionModel.load(path: path, options: LoadOptions(backend: "naive", threads: 1)))
    }

    // MARK: the traps of issue #15 (each stopped `caption` with SIGILL before)

    func testRank9InputIsAnError() throws {
        let path = try crafted("rank9-input") { _, graphs in
            graphs[index(graphs, "image_encoder")].inputs[0].shape = Array(repeating: .fixed(1), count: 9)
        }
        assertRefused(path, mentions: ["image_encoder", "rank 9", "limit of 8"])
    }

    func testRank9StateIsAnError() throws {
        let path = try crafted("rank9-state") { _, graphs in
            graphs[index(graphs, "decoder")].states[0].shape = [.symbol("B"), .symbol("max_ctx")] + Array(repeating: .fixed(2), count: 7)
        }
        assertRefused(path, mentions: ["decoder", "k_cache.0", "rank 9"])
    }

    func testReshapeTo2To80ElementsIsAnError() throws {
        let path = try crafted("reshape-2-80") { _, graphs in
            editNode(&graphs, "mapper", "prefix_embeddings") { $0.attrs["shape"] = .ints([1 << 30, 1 << 30, 1 << 20]) }
        }
        assertRefused(path, mentions: ["mapper", "prefix_embeddings", "elements"])
    }

    func testReshapeDimensionBeyondTheLimitIsAnError() throws {
        let path = try crafted("reshape-2-40") { _, graphs in
            editNode(&graphs, "mapper", "prefix_embeddings") { $0.attrs["shape"] = .ints([1 << 40, 1 << 40]) }
        }
        assertRefused(path, mentions: ["mapper", "prefix_embeddings", "shape"])
    }

    func testDecoderLayersThatContradictTheGraphIsAnError() throws {
        let path = try crafted("layers-1000") { metadata, _ in metadata["decoder.layers"] = .int(1000) }
        assertRefused(path, mentions: ["decoder.layers", "1000", "1 attention layer"])
    }

    func testNaNInImageMeanIsAnError() throws {
        let path = try crafted("mean-nan") { metadata, _ in metadata["image.mean"] = .floats([0.5, .nan, 0.5]) }
        assertRefused(path, mentions: ["image.mean", "finite"])
    }

    // MARK: one file per rule

    func testInfiniteImageStdIsAnError() throws {
        let path = try crafted("std-inf") { metadata, _ in metadata["image.std"] = .floats([0.5, .infinity, 0.5]) }
        assertRefused(path, mentions: ["image.std"])
    }

    func testDanglingValueIsAnError() throws {
        let path = try crafted("dangling") { _, graphs in
            editNode(&graphs, "decoder", "proj") { $0.inputs[0] = "nowhere" }
        }
        assertRefused(path, mentions: ["decoder", "proj", "'nowhere'", "not defined before use"])
    }

    func testCycleIsAnError() throws {
        let path = try crafted("cycle") { _, graphs in
            // h1 reads h2, which is computed from h1: a cycle, refused as a use before definition.
            editNode(&graphs, "decoder", "h1") { $0.inputs[0] = "h2" }
        }
        assertRefused(path, mentions: ["decoder", "h1", "'h2'", "not defined before use"])
    }

    func testUnknownOperatorIsAnError() throws {
        let path = try crafted("unknown-op") { _, graphs in
            editNode(&graphs, "decoder", "h1") { $0.op = "frobnicate" }
        }
        assertRefused(path, mentions: ["decoder", "h1", "unknown operator 'frobnicate'"])
    }

    func testHeadsOutOfRangeAreErrors() throws {
        for (name, heads) in [("heads-0", Int64(0)), ("heads-2-40", Int64(1) << 40), ("heads-3", 3)] {
            let path = try crafted(name) { _, graphs in
                editNode(&graphs, "decoder", "att") { $0.attrs["heads"] = .int(heads) }
            }
            assertRefused(path, mentions: ["decoder", "att"])
        }
    }

    func testNonFiniteEpsIsAnError() throws {
        let path = try crafted("eps-nan") { _, graphs in
            editNode(&graphs, "decoder", "ln1") { $0.attrs["eps"] = .float(.nan) }
        }
        assertRefused(path, mentions: ["decoder", "ln1", "eps", "finite"])
    }

    func testSliceStartBeyondTheLimitIsAnError() throws {
        let path = try crafted("slice-start") { _, graphs in
            editNode(&graphs, "decoder", "q") { $0.attrs["start"] = .int(.max) }
        }
        assertRefused(path, mentions: ["decoder", "'q'", "start"])
    }

    func testWeightOfTheWrongShapeIsAnError() throws {
        let path = try crafted("weight-shape") { _, graphs in
            editNode(&graphs, "decoder", "proj") { $0.inputs[1] = "fc.w" }   // [D, hidden], not [D, D]
        }
        assertRefused(path, mentions: ["decoder", "proj", "differ"])
    }

    func testOperandOfTheWrongTypeIsAnError() throws {
        let path = try crafted("ids-f32") { _, graphs in
            graphs[index(graphs, "token_embedding")].inputs[0].dtype = .f32
        }
        assertRefused(path, mentions: ["token_embedding", "embeddings", "i32"])
    }

    func testStateThatIsNotAKVCacheIsAnError() throws {
        let path = try crafted("state-shape") { _, graphs in
            graphs[index(graphs, "decoder")].states[1].shape = [.symbol("B"), .fixed(5), .fixed(TinyModel.width)]
        }
        assertRefused(path, mentions: ["decoder", "v_cache.0", "[B, max_ctx, D]"])
    }

    func testUnknownSymbolIsAnError() throws {
        let path = try crafted("symbol") { _, graphs in
            graphs[index(graphs, "token_embedding")].inputs[0].shape = [.symbol("B"), .symbol("Q")]
        }
        assertRefused(path, mentions: ["token_embedding", "unknown symbol 'Q'"])
    }

    func testDecoderHeadsThatContradictTheGraphIsAnError() throws {
        let path = try crafted("heads-meta") { metadata, _ in metadata["decoder.heads"] = .int(4) }
        assertRefused(path, mentions: ["decoder.heads", "att"])
    }

    func testHiddenSizeThatContradictsTheGraphIsAnError() throws {
        let path = try crafted("hidden") { metadata, _ in metadata["decoder.hidden_size"] = .int(24) }
        assertRefused(path, mentions: ["decoder.hidden_size", "24"])
    }

    func testStatesThatAreNotOnePairPerLayerAreAnError() throws {
        let path = try crafted("extra-state") { _, graphs in
            let g = index(graphs, "decoder")
            graphs[g].states.append(ValueSpec(name: "k_cache.9", dtype: .f32, shape: [.symbol("B"), .symbol("max_ctx"), .fixed(TinyModel.width)]))
        }
        assertRefused(path, mentions: ["decoder", "state"])
    }

    /// Each value is within the validator's bounds, but a session would need 256 GiB: refused
    /// from the plan's figures, before anything is allocated.
    func testWorstCaseMemoryIsCheckedBeforeAllocating() throws {
        let path = try crafted("memory") { _, graphs in
            let m = index(graphs, "mapper")
            graphs[m].inputs[0].shape = [.fixed(1), .fixed(1 << 31), .fixed(TinyModel.embed)]
            editNode(&graphs, "mapper", "prefix_embeddings") { $0.attrs["shape"] = .ints([0, 0, -1]) }
        }
        assertRefused(path, mentions: ["a session would need", "MiB"])
    }

    /// Unused graphs are checked too: nothing in a file escapes validation.
    func testAnExtraGraphIsValidatedToo() throws {
        let path = try crafted("extra-graph") { _, graphs in
            graphs.append(ComputeGraph(name: "spare", inputs: [ValueSpec(name: "x", dtype: .f32, shape: Array(repeating: .fixed(2), count: 12))],
                                       outputs: ["x"], nodes: []))
        }
        assertRefused(path, mentions: ["spare", "rank 12"])
    }

    // MARK: converter and load agree

    /// The converter's check (`GraphValidator`, run on what it writes) and the engine's check at
    /// load are one function over one op table: every graph the load refuses, the converter's
    /// validator refuses with the same message, and the good graphs pass both.
    func testConverterSideAndLoadSideValidationAgree() throws {
        let source = try ModelFile.open(path: good)
        var table: [String: (DType, [Int])] = [:]
        for t in source.tensors { table[t.name] = (t.dtype, t.shape) }
        for graph in source.graphs { XCTAssertNoThrow(try GraphValidator.validate(graph, tensors: table)) }

        let edits: [(String, (inout [ComputeGraph]) -> Void)] = [
            ("agree-rank", { $0[self.index($0, "image_encoder")].inputs[0].shape = Array(repeating: .fixed(1), count: 9) }),
            ("agree-op", { g in self.editNode(&g, "decoder", "h1") { $0.op = "nope" } }),
            ("agree-dangling", { g in self.editNode(&g, "decoder", "proj") { $0.inputs[0] = "x" } }),
            ("agree-shape", { g in self.editNode(&g, "decoder", "proj") { $0.inputs[1] = "fc.w" } }),
            ("agree-reshape", { g in self.editNode(&g, "mapper", "prefix_embeddings") { $0.attrs["shape"] = .ints([1 << 30, 1 << 30, 1 << 20]) } }),
        ]
        for (name, edit) in edits {
            let path = try crafted(name) { _, graphs in edit(&graphs) }
            let file = try ModelFile.open(path: path)
            var converterSide: GraphValidationError?
            for graph in file.graphs {
                do { try GraphValidator.validate(graph, tensors: table) } catch let e as GraphValidationError { converterSide = e; break }
            }
            let expected = try XCTUnwrap(converterSide, "\(name): the converter's validator accepted it")
            XCTAssertThrowsError(try CaptionModel.load(path: path, options: LoadOptions(backend: "naive", threads: 1))) { error in
                XCTAssertTrue("\(error)".contains(expected.description), "\(name): \(error) vs \(expected)")
            }
        }
    }
}
