import CCMFormat
import Foundation
import XCTest

/// Issue #20: the right backend by itself, output a pipeline can trust, options that mean what
/// they say, per-image errors, and the converter's messages — all through the real binary.
final class TrustTests: XCTestCase {
    private func json(_ line: Substring) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
    }

    private func jsonLines(_ stdout: String) throws -> [[String: Any]] {
        try stdout.split(separator: "\n").map(json)
    }

    /// A copy of the fixture model with the first float matrix whose name starts with `part`
    /// replaced by an f32 one of the same shape, all NaN.
    private func nanModel(_ part: String, in folder: String) throws -> String {
        try SemanticModelTests.variant("nan-\(part.filter(\.isLetter))", in: folder) { _, _, _, tensors in
            guard let i = tensors.firstIndex(where: { ($0.dtype == .f32 || $0.dtype == .f16) && $0.name.hasPrefix(part) && $0.shape.count == 2 }) else { return }
            let n = tensors[i].shape.reduce(1, *)
            tensors[i] = TensorSource(name: tensors[i].name, shape: tensors[i].shape, floats: [Float](repeating: .nan, count: n))
        }
    }

    // MARK: non-finite values

    func testNaNWeightsAreAPerImageErrorNamingTheGraph() throws {
        let folder = try Fixtures.folder(for: self)
        let model = try nanModel("mapper.mlp.2", in: folder)
        for decode in [["--decode", "greedy"], ["--decode", "beam", "--beams", "3"], ["--decode", "sample", "--num", "2"]] {
            let result = try CLI.run(["caption", "--threads", "1", "--json", "--model", model] + decode + [Fixtures.png, Fixtures.jpeg])
            assertNoCrash(result)
            XCTAssertEqual(result.exitCode, 3, "\(decode): \(result.stderr)")
            let lines = try jsonLines(result.stdout)
            XCTAssertEqual(lines.map { $0["file"] as? String }, [Fixtures.png, Fixtures.jpeg], "\(decode): every line names its file")
            for line in lines {
                XCTAssertEqual(line["status"] as? String, "error")
                let message = line["error"] as? String ?? ""
                XCTAssertTrue(message.contains("non-finite") && message.contains("'mapper'"), "\(decode): \(message)")
            }
            XCTAssertTrue(result.stderr.contains("2 of 2 images"), result.stderr)
        }
        // The image encoder's own NaN is reported there, not further down.
        let encoder = try nanModel("clip.", in: folder)
        let result = try CLI.run(["caption", "--threads", "1", "--model", encoder, Fixtures.png])
        XCTAssertEqual(result.exitCode, 3)
        XCTAssertTrue(result.stderrLines.first?.contains("graph 'image_encoder'") ?? false, result.stderr)
        XCTAssertTrue(result.stderrLines.first?.hasPrefix("error: " + Fixtures.png) ?? false, result.stderr)
    }

    func testCompareWithANaNModelKeepsEveryLineAndTheFile() throws {
        let folder = try Fixtures.folder(for: self)
        let model = try nanModel("mapper.mlp.2", in: folder)
        let result = try CLI.run(["compare", "--threads", "1", "--json", try Fixtures.model(), model, Fixtures.png])
        assertNoCrash(result)
        XCTAssertEqual(result.exitCode, 1)
        let lines = try jsonLines(result.stdout)
        XCTAssertEqual(lines.count, 2, result.stdout)
        XCTAssertEqual(lines.first?["file"] as? String, Fixtures.png)
        XCTAssertEqual(lines.first?["status"] as? String, "error")
        XCTAssertEqual(lines.last?["overall"] as? Bool, true)
    }

    // MARK: JSON

    func testCaptionJSONLineCarriesFileModelDecodingAndStepsAtTopLevel() throws {
        let model = try Fixtures.model()
        let result = try CLI.run(["caption", "--threads", "1", "--json", "--model", model, "--decode", "beam", "--beams", "2", "--max-tokens", "5", Fixtures.png])
        assertSucceeded(result)
        let line = try json(try XCTUnwrap(result.stdout.split(separator: "\n").first))
        XCTAssertEqual(line["file"] as? String, Fixtures.png)
        XCTAssertEqual(line["status"] as? String, "ok")
        XCTAssertEqual(line["model"] as? String, model)
        XCTAssertNotNil(line["backend"] as? String)
        XCTAssertNotNil(line["decode_steps"] as? Int)
        XCTAssertNil((line["timings_ms"] as? [String: Any])?["decode_steps"])
        let decoding = try XCTUnwrap(line["decoding"] as? [String: Any])
        XCTAssertEqual(decoding["strategy"] as? String, "beam")
        XCTAssertEqual(decoding["beams"] as? Int, 2)
        XCTAssertEqual(decoding["max_tokens"] as? Int, 5)
        XCTAssertFalse(result.stdout.contains("\\/"), "escaped slashes")
    }

    func testVerifyJSONCountsTheBytesOfATruncatedFile() throws {
        let folder = try Fixtures.folder(for: self)
        let truncated = folder + "/truncated.ccm"
        let bytes = try Fixtures.bytes(try Fixtures.model())
        try Fixtures.write(Array(bytes.prefix(bytes.count / 2)), to: truncated)
        let result = try CLI.run(["verify", "--json", truncated])
        XCTAssertEqual(result.exitCode, 1)
        let object = try json(try XCTUnwrap(result.stdout.split(separator: "\n").first))
        XCTAssertEqual(object["bytes"] as? Int, bytes.count / 2)
        XCTAssertEqual(object["ok"] as? Bool, false)
    }

    func testConvertJSONIsOneSnakeCaseLine() throws {
        let folder = try Fixtures.folder(for: self)
        let result = try CLI.run(Fixtures.convertArguments(output: folder + "/m.ccm", extra: ["--json"]))
        assertSucceeded(result)
        let lines = result.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, result.stdout)
        let object = try json(lines[0])
        XCTAssertNotNil(object["prefix_length"] as? Int)
        XCTAssertNil(object["prefixLength"])
        XCTAssertFalse(result.stdout.contains("\\/"))
    }

    // MARK: options

    func testContradictionsAreRefusedNamingTheOption() throws {
        let model = try Fixtures.model()
        let cases: [([String], String)] = [
            (["--decode", "greedy", "--num", "3"], "--num"),
            (["--beams", "3"], "--beams"),
            (["--temperature", "0.7"], "--temperature"),
            (["--decode", "beam", "--top-p", "0.9"], "--top-p"),
            (["--top-k", "5"], "--top-k"),
            (["--seed", "3"], "--seed"),
            (["--threads", "0"], "--threads"),
            (["--threads", "-1"], "--threads"),
            (["--num", "0"], "--num"),
            (["--max-tokens", "0"], "--max-tokens"),
            (["--max-pixels", "0"], "--max-pixels"),
            (["--decode", "beam", "--beams", "2", "--num", "3"], "--num"),
        ]
        for (arguments, option) in cases {
            let result = try CLI.run(["caption", "--model", model] + arguments + [Fixtures.png])
            assertNoCrash(result)
            XCTAssertNotEqual(result.exitCode, 0, "\(arguments) was accepted")
            let first = result.stderrLines.first ?? ""
            XCTAssertTrue(first.contains(option), "\(arguments): \(first)")
            XCTAssertFalse(first.lowercased().contains("missing value"), "\(arguments): \(first)")
            // The message names the one option at fault, not a list of four.
            if arguments == ["--num", "0"] { XCTAssertFalse(first.contains("--beams") || first.contains("--jobs"), first) }
            XCTAssertEqual(result.stdout, "", "\(arguments) printed captions")
        }
    }

    func testOverLargeCountsAreClampedWithANote() throws {
        let model = try Fixtures.model()
        let result = try CLI.run(["caption", "--model", model, "--threads", "999", "--max-tokens", "100000", "--json", Fixtures.png])
        assertSucceeded(result)
        XCTAssertTrue(result.stderr.contains("note: --threads 999"), result.stderr)
        XCTAssertTrue(result.stderr.contains("note: --max-tokens 100000"), result.stderr)
        let line = try json(try XCTUnwrap(result.stdout.split(separator: "\n").first))
        let maxTokens = try XCTUnwrap((line["decoding"] as? [String: Any])?["max_tokens"] as? Int)
        XCTAssertLessThan(maxTokens, 100000)
    }

    func testProfileDoesNotClaimMoreTokensThanTheContextHolds() throws {
        let result = try CLI.run(["profile", Fixtures.png, "--model", try Fixtures.model(), "--threads", "1", "--runs", "1",
                                  "--max-tokens", "100000", "--json"])
        assertSucceeded(result)
        XCTAssertTrue(result.stderr.contains("note: --max-tokens 100000"), result.stderr)
    }

    // MARK: per-image errors

    func testAMissingFileAmongSeveralIsThatImagesError() throws {
        let missing = Fixtures.scratch + "/nope-\(UInt32.random(in: 0...UInt32.max)).jpg"
        let result = try CLI.run(["caption", "--threads", "1", "--max-tokens", "4", "--model", try Fixtures.model(), Fixtures.png, missing, Fixtures.jpeg])
        assertNoCrash(result)
        XCTAssertEqual(result.exitCode, 3)
        let captioned = result.stdout.split(separator: "\n").map { String($0.split(separator: "\t").first ?? "") }
        XCTAssertEqual(captioned, [Fixtures.png, Fixtures.jpeg], result.stdout)
        XCTAssertTrue(result.stderrLines.first?.contains(missing) ?? false, result.stderr)
        XCTAssertTrue(result.stderrLines.first?.contains("no such file") ?? false, result.stderr)
        XCTAssertTrue(result.stderr.contains("1 of 3 images"), result.stderr)

        let json = try CLI.run(["caption", "--threads", "1", "--max-tokens", "4", "--json", "--model", try Fixtures.model(), missing, Fixtures.png])
        let lines = try jsonLines(json.stdout)
        XCTAssertEqual(lines.map { $0["file"] as? String }, [missing, Fixtures.png])
        XCTAssertEqual(lines.map { $0["status"] as? String }, ["error", "ok"])
    }

    func testMaxPixelsRefusesLargerImagesPerImage() throws {
        let result = try CLI.run(["caption", "--threads", "1", "--max-tokens", "4", "--max-pixels", "16", "--model", try Fixtures.model(),
                                  Fixtures.png, Fixtures.path("images/synthetic/tiny_1x1.png")])
        XCTAssertEqual(result.exitCode, 3)
        XCTAssertTrue(result.stderrLines.first?.contains("--max-pixels") ?? false, result.stderr)
        XCTAssertEqual(result.stdout.split(separator: "\n").count, 1, "the 1x1 image is still captioned")
    }

    func testDumpWritesAFolderPerImageInEveryMode() throws {
        let model = try Fixtures.model()
        for decode in [["--decode", "greedy"], ["--decode", "beam", "--beams", "2"], ["--decode", "sample", "--num", "2"]] {
            let folder = try Fixtures.folder(for: self, "dump\(decode[1])")
            let result = try CLI.run(["caption", "--threads", "1", "--max-tokens", "4", "--model", model, "--dump", folder] + decode + [Fixtures.png, Fixtures.jpeg])
            assertSucceeded(result)
            let files = ["image_embedding.npy", "logits.npy", "pixel_values.npy", "prefix_embeddings.npy"]
            assertFolder(folder, holds: ["rgb", "rgb_q90_420"], "\(decode)")
            assertFolder(folder + "/rgb", holds: files, "\(decode)")
            assertFolder(folder + "/rgb_q90_420", holds: files, "\(decode)")
        }
    }

    func testCompareRefusesModelsWithDifferentTokenizers() throws {
        let folder = try Fixtures.folder(for: self)
        let other = try SemanticModelTests.variant("other-vocab", in: folder) { _, _, tokenizer, _ in
            if var t = tokenizer, !t.vocab.isEmpty { t.vocab[t.vocab.count - 1] += "x"; tokenizer = t }
        }
        let result = try CLI.run(["compare", "--threads", "1", try Fixtures.model(), other, Fixtures.png])
        assertRefused(result, naming: other, mentions: ["tokenizer"])
        XCTAssertEqual(result.stdout, "")
    }

    func testQuantizeChecksReportImagesBeforeWriting() throws {
        let folder = try Fixtures.folder(for: self)
        let output = folder + "/q.ccm"
        let result = try CLI.run(["quantize", try Fixtures.model(), "-o", output, "--report", folder + "/nope.jpg"])
        assertRefused(result, naming: folder + "/nope.jpg", mentions: ["--report"])
        assertFolder(folder, holds: [])
    }

    // MARK: backend choice

    func testAutoRunsQuantizedFilesOnInt8AndBlasWarnsOfTheFallback() throws {
        let folder = try Fixtures.folder(for: self)
        let quantized = folder + "/q.ccm"
        let q = try CLI.run(["quantize", try Fixtures.model(), "-o", quantized])
        assertSucceeded(q)
        XCTAssertTrue(q.stdout.contains("clipcapctl caption IMAGES --model \(quantized)"), q.stdout)
        let backends = try CLI.run(["backends", "--json"])
        let list = try XCTUnwrap(try json(Substring(backends.stdout))["backends"] as? [[String: Any]])
        let int8 = try XCTUnwrap(list.first { $0["name"] as? String == "int8" })
        let int8Available = int8["available"] as? Bool == true
        XCTAssertEqual(int8["chain"] as? [String], ["int8", "blas", "naive"])

        // Which backend runs each op of the quantized file, from `backends --model`.
        let assigned = try CLI.run(["backends", "--json", "--model", quantized, "--backend", "int8"])
        assertSucceeded(assigned)
        let rows = try XCTUnwrap((try json(Substring(assigned.stdout))["model"] as? [String: Any])?["ops"] as? [[String: Any]])
        XCTAssertTrue(rows.contains { $0["op"] as? String == "linear_i8" && $0["backend"] as? String == "int8" }, assigned.stdout)
        XCTAssertTrue(rows.contains { $0["op"] as? String == "layer_norm" && $0["backend"] as? String == "blas" }, assigned.stdout)
        XCTAssertFalse(rows.contains { $0["backend"] as? String == "naive" }, assigned.stdout)

        let auto = try CLI.run(["caption", "--threads", "1", "--max-tokens", "4", "--json", "--model", quantized, Fixtures.png])
        assertSucceeded(auto)
        let line = try json(try XCTUnwrap(auto.stdout.split(separator: "\n").first))
        XCTAssertEqual(line["backend"] as? String, int8Available ? "int8" : "blas")
        if int8Available { XCTAssertFalse(auto.stderr.contains("warning"), auto.stderr) }

        let blas = try CLI.run(["caption", "--threads", "1", "--max-tokens", "4", "--backend", "blas", "--model", quantized, Fixtures.png])
        assertSucceeded(blas)
        let warnings = blas.stderrLines.filter { $0.hasPrefix("warning:") }
        XCTAssertEqual(warnings.count, 1, blas.stderr)
        XCTAssertTrue(warnings.first?.contains("linear_i8") ?? false, blas.stderr)
        XCTAssertTrue(warnings.first?.contains("--backend int8") ?? false, blas.stderr)

        let float = try CLI.run(["caption", "--threads", "1", "--max-tokens", "4", "--json", "--model", try Fixtures.model(), Fixtures.png])
        XCTAssertEqual(try json(try XCTUnwrap(float.stdout.split(separator: "\n").first))["backend"] as? String, "blas")
        XCTAssertFalse(float.stderr.contains("warning"), float.stderr)
    }

    // MARK: converter

    /// A checkpoint saved under DistributedDataParallel (every key under `module.`) converts to
    /// the same tensors as the plain one.
    func testDataParallelCheckpointConvertsLikeThePlainOne() throws {
        let folder = try Fixtures.folder(for: self)
        let plain = Fixtures.path("models/clipcap-en-transformer.safetensors")
        let ddp = folder + "/ddp.safetensors"
        try Fixtures.write(try Self.prefixingKeys(of: try Fixtures.bytes(plain), with: "module."), to: ddp)
        func tensors(_ checkpoint: String, _ name: String) throws -> [String] {
            let out = folder + "/" + name + ".ccm"
            let convert = try CLI.run(Fixtures.convertArguments(checkpoint: checkpoint, gpt2: Fixtures.path("models/gpt2-en"), output: out,
                                                                extra: ["--normalize-prefix"]))
            assertSucceeded(convert)
            let file = try ModelFile.open(path: out)
            return file.tensors.map { "\($0.name) \($0.checksum)" }.sorted()
        }
        XCTAssertEqual(try tensors(ddp, "ddp"), try tensors(plain, "plain"))
    }

    func testSwappedClipAndCheckpointAreNamed() throws {
        let folder = try Fixtures.folder(for: self)
        let result = try CLI.run(Fixtures.convertArguments(checkpoint: Fixtures.clip,
                                                           clip: Fixtures.path("models/clipcap-en-transformer.safetensors"),
                                                           gpt2: Fixtures.path("models/gpt2-en"), output: folder + "/x.ccm"))
        let first = assertRefused(result, naming: Fixtures.path("models/clipcap-en-transformer.safetensors"), mentions: ["swapped"])
        XCTAssertFalse(first.contains("checkpoint checkpoint"), first)
        assertFolder(folder, holds: [])

        // The checkpoint given is CLIP itself: the no-mapper message lists its keys and says so.
        let clipTwice = try CLI.run(Fixtures.convertArguments(checkpoint: Fixtures.path("models/clip/hf-vision/model.safetensors"),
                                                              output: folder + "/y.ccm"))
        let message = assertRefused(clipTwice, naming: Fixtures.path("models/clip/hf-vision/model.safetensors"), mentions: ["keys", "swapped"])
        XCTAssertTrue(message.contains("vision_model.*"), message)
        XCTAssertTrue(message.contains("ClipCap checkpoint") && !message.contains("checkpoint checkpoint"), message)
    }

    func testRefusedPickleNamesTheCheckpointOnce() throws {
        let folder = try Fixtures.folder(for: self)
        let hostile = Fixtures.path("models/hostile-os-system.pt")
        let result = try CLI.run(Fixtures.convertArguments(checkpoint: hostile, output: folder + "/x.ccm"))
        let first = assertRefused(result, naming: hostile, mentions: ["refusing"])
        XCTAssertEqual(first.components(separatedBy: hostile).count - 1, 1, first)
        assertFolder(folder, holds: [])
    }

    /// The safetensors file with every tensor key prefixed (the header is JSON; the data is unchanged).
    static func prefixingKeys(of bytes: [UInt8], with prefix: String) throws -> [UInt8] {
        let length = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as? [String: Any])
        var renamed: [String: Any] = [:]
        for (key, value) in header { renamed[key == "__metadata__" ? key : prefix + key] = value }
        var json = [UInt8](try JSONSerialization.data(withJSONObject: renamed))
        while json.count % 8 != 0 { json.append(0x20) }
        return le(UInt64(json.count), 8) + json + Array(bytes[(8 + length)...])
    }

    // MARK: version and images

    func testVersionNamesTheEngineFormatAndCPU() throws {
        let result = try CLI.run(["--version"])
        assertSucceeded(result)
        XCTAssertTrue(result.stdout.contains(".ccm format version \(CCMFormatSpec.version)"), result.stdout)
        XCTAssertTrue(result.stdout.contains("cpu features"), result.stdout)
    }

    func testSixteenBitGrayscalePNGWarns() throws {
        let gray16 = Fixtures.path("images/synthetic/gray16.png")
        let result = try CLI.run(["caption", "--threads", "1", "--max-tokens", "4", "--json", "--model", try Fixtures.model(), gray16, Fixtures.png])
        assertSucceeded(result)
        XCTAssertEqual(result.stderrLines.filter { $0.hasPrefix("warning: " + gray16) && $0.contains("16-bit") }.count, 1, result.stderr)
        let lines = try jsonLines(result.stdout)
        XCTAssertNotNil(lines.first?["warnings"])
        XCTAssertNil(lines.last?["warnings"], "an 8-bit PNG has nothing to warn about")
    }
}
