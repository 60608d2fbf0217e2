import Foundation
import Testing

/// Bugs found by the reliability work in modules this target does not own, kept as regression
/// tests now that they are fixed (they were first committed wrapped in `withKnownIssue`).
@Suite struct KnownIssueTests {
    /// `convert -o X --checkpoint X` must refuse instead of replacing the checkpoint.
    @Test func convertOutputOntoItsOwnCheckpointIsRefused() throws {
        let folder = Fixtures.scratch + "/self-output-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let checkpoint = folder + "/clipcap.pt"
        try FileManager.default.copyItem(atPath: Fixtures.checkpoint, toPath: checkpoint)
        let original = try Fixtures.bytes(checkpoint)
        let result = try CLI.run(Fixtures.convertArguments(checkpoint: checkpoint, output: checkpoint))
        // A Bool, not `#expect(after == original)`: on failure Swift Testing would diff two
        // half-megabyte arrays element by element (Myers), which takes many minutes.
        let untouched = try Fixtures.bytes(checkpoint) == original
        #expect(refusalProblems(result, naming: checkpoint, mentions: ["same file"]) == [])
        #expect(untouched, "the checkpoint was overwritten")
    }

    /// A failed image's line should name the file once: today it is `error: P: P: message`
    /// (CaptionCommand prefixes the path to an ImageError that already starts with it).
    @Test func captionErrorNamesTheImageOnce() throws {
        let path = Fixtures.path("images/bad/truncated.png")
        let result = try CLI.run(["caption", "--threads", "1", "--model", try Fixtures.model(), path])
        #expect(refusalProblems(result, naming: path, mentions: ["truncated"], lines: 2) == [])
        let first = result.stderrLines.first ?? ""
        #expect(first.components(separatedBy: path).count - 1 == 1, "\(first)")
    }

    /// `caption --dump X` where X is an existing file: the message should say so in words, not
    /// as a raw NSCocoaErrorDomain dump, and no caption should be printed as if all went well.
    @Test func captionDumpOntoAFileSaysSo() throws {
        let folder = Fixtures.scratch + "/dump-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dump = folder + "/dump"
        try Fixtures.write("not a folder", to: dump)
        let result = try CLI.run(["caption", "--threads", "1", "--model", try Fixtures.model(), "--dump", dump, Fixtures.png])
        #expect(result.exitCode == 1 && result.signal == nil)
        #expect(refusalProblems(result, naming: dump, mentions: ["not a folder"]) == [])
        #expect(!result.stderr.contains("NSCocoaErrorDomain"))
    }

    /// `convert` failures say "cannot read the checkpoint checkpoint:" and name the path twice.
    @Test func convertErrorWording() throws {
        let lfs = Fixtures.path("torch/lfs_pointer.pt")
        let result = try CLI.run(Fixtures.convertArguments(checkpoint: lfs, output: Fixtures.scratch + "/never.ccm"))
        #expect(refusalProblems(result, naming: lfs, mentions: ["git-lfs"]) == [])
        #expect(!result.stderr.contains("checkpoint checkpoint"), "\(result.stderr)")
    }

    /// Graph-compilation and tokenizer errors at load should name the model file, as the
    /// metadata errors do. Today: "graph 'image_encoder', node 'patches.split': unknown operator
    /// 'frobnicate' ..." and "<in-memory list>: the vocabulary is empty ...".
    @Test(arguments: ["unknown-op", "empty-vocab"])
    func loadErrorsNameTheModelFile(_ name: String) throws {
        let folder = Fixtures.scratch + "/load-\(name)-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        guard let edit = SemanticModelTests.cases().first(where: { $0.0 == name })?.2 else { return }
        let path = try SemanticModelTests.variant(name, in: folder, edit: edit)
        let result = try CLI.run(["caption", "--threads", "1", "--model", path, Fixtures.png])
        #expect(refusalProblems(result, naming: "") == [])
        #expect(refusalProblems(result, naming: path) == [])
    }

    /// `decoder.vocab_size` that disagrees with the LM head / graphs should be refused at load.
    @Test func vocabSizeDisagreeingWithTheGraphIsRefused() throws {
        let folder = Fixtures.scratch + "/vocab-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try SemanticModelTests.variant("vocab-999", in: folder) { m, _, _, _ in m["decoder.vocab_size"] = .int(999) }
        let result = try CLI.run(["caption", "--threads", "1", "--max-tokens", "4", "--model", path, Fixtures.png])
        #expect(result.signal == nil && !result.timedOut)
        #expect(refusalProblems(result, naming: path, mentions: ["vocab_size"]) == [])
    }
}
