import CCMFormat
import Foundation
import XCTest
@testable import ModelConverter

/// Wrong inputs are refused with errors that name the file and the offending keys, and leave
/// no output behind; a hostile pickle runs nothing.
final class ErrorTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws { dir = try Fixtures.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private func expectFailure(_ options: ConvertOptions, file: StaticString = #filePath, line: UInt = #line,
                               _ check: (ConvertError) -> Void) {
        do {
            _ = try Converter.convert(options)
            XCTFail("conversion should fail", file: file, line: line)
        } catch let error as ConvertError {
            check(error)
        } catch {
            XCTFail("not a ConvertError: \(error)", file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: options.outputPath), "no output may be left", file: file, line: line)
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        XCTAssertTrue(leftovers.isEmpty, "temporary files left: \(leftovers)", file: file, line: line)
    }

    func testHostilePickleIsRefusedAndRunsNothing() throws {
        let marker = "/tmp/clipcap-pwned-convert"
        try? FileManager.default.removeItem(atPath: marker)
        let layout = try XCTUnwrap(Fixtures.layout("zh-mlp"))
        var options = Fixtures.options(layout, output: dir + "/out.ccm")
        options.checkpointPath = Fixtures.path("hostile-os-system.pt")
        expectFailure(options) { error in
            guard case .unreadableCheckpoint(let role, let path, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(role, "checkpoint")
            XCTAssertTrue(path.hasSuffix("hostile-os-system.pt"))
            XCTAssertTrue(reason.contains("system"), reason)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the pickle's os.system ran")
    }

    /// The keys decide the mapper (ClipCap-Chinese's train.py can save a BERT mapper "as mlp");
    /// a disagreeing --mapping is reported as a warning, and the file holds the detected mapper.
    func testMappingOptionThatDisagreesWithTheKeysIsAWarning() throws {
        let layout = try XCTUnwrap(Fixtures.layout("zh-mlp"))
        var options = Fixtures.options(layout, output: dir + "/out.ccm")
        options.mapping = .bert
        let summary = try Converter.convert(options)
        XCTAssertEqual(summary.mapping, "mlp")
        XCTAssertEqual(summary.warnings.count, 1)
        XCTAssertTrue(summary.warnings[0].contains("--mapping bert"), summary.warnings[0])
        XCTAssertTrue(summary.warnings[0].contains("converted as mlp"), summary.warnings[0])
        options.mapping = .mlp
        XCTAssertEqual(try Converter.convert(options).warnings, [])
    }

    func testPrefixLengthOptionIsCheckedAgainstTheWeights() throws {
        let layout = try XCTUnwrap(Fixtures.layout("en-mlp"))
        var options = Fixtures.options(layout, output: dir + "/out.ccm")
        options.prefixLength = 10
        expectFailure(options) { error in
            XCTAssertTrue(error.description.contains("--prefix-len 10"), error.description)
            XCTAssertTrue(error.description.contains("5"), error.description)
        }
    }

    func testBertMapperNeedsItsConfig() throws {
        let layout = try XCTUnwrap(Fixtures.layout("zh-bert"))
        var options = Fixtures.options(layout, output: dir + "/out.ccm")
        options.bertFolder = nil
        expectFailure(options) { error in XCTAssertTrue(error.description.contains("--bert"), error.description) }
    }

    func testWrongGPT2FolderIsReported() throws {
        let layout = try XCTUnwrap(Fixtures.layout("zh-mlp"))
        var options = Fixtures.options(layout, output: dir + "/out.ccm")
        options.gpt2Folder = Fixtures.path("gpt2-en")
        expectFailure(options) { error in
            guard case .badConfig(let path, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("gpt2-en/config.json"), path)
            XCTAssertTrue(reason.contains("vocab_size"), reason)
        }
    }

    func testCLIPFileAsCheckpointIsNotAClipCapModel() throws {
        let layout = try XCTUnwrap(Fixtures.layout("zh-mlp"))
        var options = Fixtures.options(layout, output: dir + "/out.ccm")
        options.checkpointPath = Fixtures.clipStateDict
        expectFailure(options) { error in
            guard case .unknownArchitecture(let role, _, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(role, "checkpoint")
            XCTAssertTrue(reason.contains("clip_project"), reason)
        }
    }

    func testMissingInputIsNamed() throws {
        let layout = try XCTUnwrap(Fixtures.layout("zh-mlp"))
        var options = Fixtures.options(layout, output: dir + "/out.ccm")
        options.clipPath = dir + "/nope.pt"
        expectFailure(options) { error in
            guard case .missingInput(let role, let path) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(role, "clip")
            XCTAssertTrue(path.hasSuffix("nope.pt"))
        }
    }

    func testMissingUnexpectedAndMisshapenKeysAreListedByName() throws {
        // A synthetic GPT-2 state dict: one key missing, one stray, one wrong shape.
        let d = 8, v = 10
        func t(_ name: String, _ shape: [Int]) -> InputTensor {
            InputTensor(name: name, dtype: .f32, shape: shape) { [UInt8](repeating: 0, count: shape.reduce(1, *) * 4) }
        }
        var tensors = [t("transformer.wte.weight", [v, d]), t("transformer.wpe.weight", [16, d]),
                       t("transformer.ln_f.weight", [d]), t("transformer.ln_f.bias", [d]),
                       t("transformer.h.0.attn.bias", [1, 1, 16, 16]), t("transformer.h.0.extra.weight", [3])]
        for name in ["ln_1", "ln_2"] {
            tensors += [t("transformer.h.0.\(name).weight", [d]), t("transformer.h.0.\(name).bias", [d])]
        }
        tensors += [t("transformer.h.0.attn.c_attn.weight", [d, 3 * d]), t("transformer.h.0.attn.c_attn.bias", [3 * d]),
                    t("transformer.h.0.attn.c_proj.weight", [d, d + 1]), t("transformer.h.0.attn.c_proj.bias", [d]),
                    t("transformer.h.0.mlp.c_fc.weight", [d, 4 * d]), t("transformer.h.0.mlp.c_fc.bias", [4 * d]),
                    t("transformer.h.0.mlp.c_proj.weight", [4 * d, d])]
        let ws = WeightSet(role: "gpt2", path: "/x/gpt2.bin", tensors: tensors)
        let config = JSONObject(["n_head": 2, "n_embd": d, "vocab_size": v, "n_layer": 1])
        _ = try GPT2Converter.convert(ws, prefix: "", config: config, configPath: "/x/config.json", matrixType: .f32)
        XCTAssertThrowsError(try ws.check()) { error in
            guard case ConvertError.keyMismatch(let role, let path, let missing, let unexpected, let shapes)? = error as? ConvertError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(role, "gpt2")
            XCTAssertEqual(path, "/x/gpt2.bin")
            XCTAssertEqual(missing, ["transformer.h.0.mlp.c_proj.bias"])
            XCTAssertEqual(unexpected, ["transformer.h.0.extra.weight"])
            XCTAssertEqual(shapes, [ShapeMismatch(name: "transformer.h.0.attn.c_proj.weight", expected: [d, d], actual: [d, d + 1])])
            let text = (error as? ConvertError)?.description ?? ""
            XCTAssertTrue(text.contains("transformer.h.0.mlp.c_proj.bias") && text.contains("transformer.h.0.extra.weight"), text)
        }
        XCTAssertEqual(ws.skipped, ["transformer.h.0.attn.bias"], "the causal-mask buffer is skipped on purpose")
    }

    func testUntiedLMHeadIsStoredSeparately() throws {
        let d = 4, v = 6
        func t(_ name: String, _ shape: [Int], fill: UInt8 = 0) -> InputTensor {
            InputTensor(name: name, dtype: .f32, shape: shape) { [UInt8](repeating: fill, count: shape.reduce(1, *) * 4) }
        }
        var tensors = [t("transformer.wte.weight", [v, d]), t("transformer.wpe.weight", [8, d]),
                       t("transformer.ln_f.weight", [d]), t("transformer.ln_f.bias", [d]), t("lm_head.weight", [v, d], fill: 1)]
        for name in ["ln_1", "ln_2"] {
            tensors += [t("transformer.h.0.\(name).weight", [d]), t("transformer.h.0.\(name).bias", [d])]
        }
        for (name, shape) in [("attn.c_attn", [d, 3 * d]), ("attn.c_proj", [d, d]), ("mlp.c_fc", [d, 4 * d]), ("mlp.c_proj", [4 * d, d])] {
            tensors += [t("transformer.h.0.\(name).weight", shape), t("transformer.h.0.\(name).bias", [shape[1]])]
        }
        let ws = WeightSet(role: "gpt2", path: "/x", tensors: tensors)
        let (_, decoder, settings) = try GPT2Converter.convert(ws, prefix: "", config: JSONObject(["n_head": 2]),
                                                               configPath: "/x/config.json", matrixType: .f32)
        try ws.check()
        XCTAssertFalse(settings.tiedHead)
        XCTAssertTrue(decoder.tensors.contains { $0.name == "gpt2.lm_head" })
        XCTAssertEqual(decoder.graph.nodes.first { $0.name == "lm_head" }?.inputs[1], "gpt2.lm_head")
    }
}
