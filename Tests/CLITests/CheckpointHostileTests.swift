import Foundation
import XCTest
import TestSupport

/// Hostile PyTorch checkpoints and bad paths through `clipcapctl convert` (docs/ERRORS.md,
/// "Checkpoints"). Each run must refuse with one line naming the file, execute nothing, leave
/// no file in the output folder and keep an existing output file byte for byte.
final class CheckpointHostileTests: XCTestCase {
    /// Runs `convert` with `checkpoint` (or `clip`) replaced, writing over an existing output
    /// file, and checks the refusal contract.
    private func assertConvertRefuses(checkpoint: String = Fixtures.checkpoint, clip: String = Fixtures.clip,
                                      naming subject: String, mentions: [String] = [], folder: String,
                                      file: StaticString = #filePath, line: UInt = #line) throws {
        let output = folder + "/out.ccm"
        let sentinel = Array("an older model that must survive a failed conversion\n".utf8)
        try Fixtures.write(sentinel, to: output)
        let before = listing(folder)
        let result = try CLI.run(Fixtures.convertArguments(checkpoint: checkpoint, clip: clip, output: output), timeout: 120)
        assertRefused(result, naming: subject, mentions: mentions, file: file, line: line)
        XCTAssertEqual(try Fixtures.bytes(output), sentinel, "the existing output was changed", file: file, line: line)
        assertFolder(folder, holds: before, subject, file: file, line: line)
    }

    private func hostile(_ name: String, _ bytes: [UInt8], in folder: String) throws -> String {
        let path = folder + "/" + name
        try Fixtures.write(bytes, to: path)
        return path
    }

    func testCodeRunningPicklesAreRefusedAndNothingRuns() throws {
        let folder = try Fixtures.folder(for: self)
        let marker = folder + "/pwned"
        let command = Pickle.string("touch " + marker)
        let payloads: [(String, [UInt8], String)] = [
            ("os-system.pt", Pickle.call(Pickle.global("os", "system"), [command]), "os.system"),
            ("posix-system.pt", Pickle.call(Pickle.global("posix", "system"), [command]), "posix.system"),
            ("builtins-eval.pt", Pickle.call(Pickle.global("builtins", "eval"), [Pickle.string("__import__('os').system('touch \(marker)')")]), "builtins.eval"),
            ("builtins-exec.pt", Pickle.call(Pickle.global("builtins", "exec"), [Pickle.string("open('\(marker)','w')")]), "builtins.exec"),
            ("subprocess.pt", Pickle.call(Pickle.global("subprocess", "Popen"), [Pickle.tuple([Pickle.string("touch"), Pickle.string(marker)])]), "subprocess.Popen"),
            ("stack-global.pt", [0x80, 0x04] + Pickle.call(Pickle.stackGlobal("os", "system"), [command]) + Pickle.stop, "os.system"),
            ("getattr.pt", Pickle.call(Pickle.global("builtins", "getattr"), [Pickle.global("os", "system"), Pickle.string("__call__")]), "builtins.getattr"),
            ("inside-tensor.pt", Pickle.dict([("w", Pickle.call(Pickle.global("os", "system"), [command]))]), "os.system"),
        ]
        for (name, body, callable) in payloads {
            let pickle = body.starts(with: [0x80, 0x04]) ? body : Pickle.stream(body)
            let path = try hostile(name, torchArchive(pickle: pickle), in: folder)
            try assertConvertRefuses(checkpoint: path, naming: path, mentions: [callable, "nothing was executed"], folder: folder)
            XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "\(name): the pickle ran code")
            try FileManager.default.removeItem(atPath: path)
        }
        // The committed fixture, as the CLIP input too.
        let fixture = Fixtures.path("models/hostile-os-system.pt")
        try assertConvertRefuses(checkpoint: fixture, naming: fixture, mentions: ["refusing"], folder: folder)
        try assertConvertRefuses(clip: fixture, naming: fixture, mentions: ["refusing"], folder: folder)
    }

    func testTruncatedDeepAndHugeMemoPickles() throws {
        let folder = try Fixtures.folder(for: self)
        let good = Pickle.stream(Pickle.dict([("w", Pickle.tensor(key: "0", numel: 4, size: [2, 2], stride: [2, 1]))]))
        let depth = 200_000
        let cases: [(String, [UInt8])] = [
            ("pickle-cut-1.pt", Array(good.prefix(1))),
            ("pickle-cut-half.pt", Array(good.prefix(good.count / 2))),
            ("pickle-no-stop.pt", Array(good.dropLast())),
            ("deep-lists.pt", Pickle.proto + [UInt8](repeating: 0x5D, count: depth) + [UInt8](repeating: 0x61, count: depth - 1) + Pickle.stop),
            ("deep-marks.pt", Pickle.proto + [UInt8](repeating: 0x28, count: depth) + [UInt8](repeating: 0x74, count: depth) + Pickle.stop),
            ("deep-dicts.pt", Pickle.proto + Array([[UInt8]](repeating: Pickle.emptyDict + Pickle.string("k"), count: depth).joined())
                + [UInt8](repeating: 0x73, count: depth - 1) + Pickle.stop),
            ("memo-get-huge.pt", Pickle.proto + [0x6A] + le(0xFFFF_FFFF, 4) + Pickle.stop),           // LONG_BINGET 2^32-1
            ("memo-put-huge.pt", Pickle.proto + Pickle.emptyDict + [0x72] + le(0xFFFF_FFFF, 4) + Pickle.stop),  // LONG_BINPUT
            ("memo-get-missing.pt", Pickle.proto + [0x68, 7] + Pickle.stop),                           // BINGET 7, never put
            ("string-4gib.pt", Pickle.proto + [0x58] + le(0xFFFF_FFFF, 4) + Array("abc".utf8) + Pickle.stop),
            ("bytes-8-exabytes.pt", [0x80, 0x04, 0x8E] + le(UInt64.max, 8) + Pickle.stop),             // BINBYTES8
            ("unknown-opcode.pt", Pickle.proto + [0xFF] + Pickle.stop),
            ("empty-pickle.pt", []),
            ("stack-underflow.pt", Pickle.proto + Pickle.setitems + Pickle.stop),
        ]
        for (name, pickle) in cases {
            let path = try hostile(name, torchArchive(pickle: pickle, storages: ["0": [UInt8](repeating: 0, count: 16)]), in: folder)
            try assertConvertRefuses(checkpoint: path, naming: path, folder: folder)
            try FileManager.default.removeItem(atPath: path)
        }
    }

    func testTruncatedCheckpointFiles() throws {
        let folder = try Fixtures.folder(for: self)
        let real = try Fixtures.bytes(Fixtures.checkpoint)
        var rng = SplitMix64(seed: 5)
        let cuts = [1, 4, 30, 100, real.count / 2, real.count - 22, real.count - 1] + (0..<5).map { _ in Int.random(in: 1..<real.count, using: &rng) }
        for cut in cuts {
            let path = try hostile("cut-\(cut).pt", Array(real.prefix(cut)), in: folder)
            try assertConvertRefuses(checkpoint: path, naming: path, folder: folder)
            try FileManager.default.removeItem(atPath: path)
        }
    }

    func testZipEntriesOutsideTheArchiveAndZipBombs() throws {
        let folder = try Fixtures.folder(for: self)
        let pickle = Pickle.stream(Pickle.dict([("w", Pickle.tensor(key: "0", numel: 4, size: [2, 2], stride: [2, 1]))]))
        let storage = [UInt8](repeating: 0, count: 16)
        var cases: [(String, [UInt8], [String])] = []

        var escaping = ZipBuilder()
        escaping.add("../../etc/data.pkl", pickle)
        escaping.add("../../etc/data/0", storage)
        cases.append(("escaping-names.pt", escaping.build(), []))

        var absolute = ZipBuilder()
        absolute.add("/archive/data.pkl", pickle)
        absolute.add("/archive/data/0", storage)
        cases.append(("absolute-names.pt", absolute.build(), []))

        var pastEnd = ZipBuilder()
        pastEnd.add("archive/data.pkl", pickle)
        pastEnd.add("archive/data/0", storage, declaredOffset: 0x7FFF_FFF0)
        cases.append(("offset-past-end.pt", pastEnd.build(), []))

        var bigDeclared = ZipBuilder()
        bigDeclared.add("archive/data.pkl", pickle)
        bigDeclared.add("archive/data/0", storage, declaredSize: 0xFFFF_FFFE)
        cases.append(("declared-4gib.pt", bigDeclared.build(), []))

        var deflateClaim = ZipBuilder()
        deflateClaim.add("archive/data.pkl", pickle)
        deflateClaim.add("archive/data/0", [0x63, 0x60, 0x18, 0x05, 0xA3, 0x60, 0x14, 0x0C, 0x77, 0x00, 0x00], method: 8, declaredSize: 0xFFFF_FFFE)
        cases.append(("deflate-claims-4gib.pt", deflateClaim.build(), []))

        var overlapping = ZipBuilder()   // many names, one local entry: the "overlapping files" bomb
        overlapping.add("archive/data.pkl", pickle)
        overlapping.add("archive/data/0", storage)
        for i in 1..<2000 { overlapping.add("archive/data/\(i)", [], declaredOffset: UInt32(0)) }
        cases.append(("overlapping-entries.pt", overlapping.build(), []))

        var duplicate = ZipBuilder()
        duplicate.add("archive/data.pkl", pickle)
        duplicate.add("archive/data.pkl", Pickle.stream(Pickle.emptyDict))
        duplicate.add("archive/data/0", storage)
        cases.append(("duplicate-names.pt", duplicate.build(), []))

        let tensorTooBig = Pickle.stream(Pickle.dict([("w", Pickle.tensor(key: "0", numel: 1 << 30, size: [1 << 15, 1 << 15], stride: [1 << 15, 1]))]))
        cases.append(("storage-smaller-than-tensor.pt", torchArchive(pickle: tensorTooBig, storages: ["0": storage]), []))

        for (name, bytes, mentions) in cases {
            let path = try hostile(name, bytes, in: folder)
            try assertConvertRefuses(checkpoint: path, naming: path, mentions: mentions, folder: folder)
            try FileManager.default.removeItem(atPath: path)
        }

        // A real 1000:1 deflate bomb (16 MiB of zeros in 16 KB, a valid torch.save file).
        let bomb = Fixtures.root.deletingLastPathComponent().appendingPathComponent("CLITests/Fixtures/zip-bomb.pt").path
        try assertConvertRefuses(checkpoint: bomb, naming: bomb, mentions: ["compress"], folder: folder)
    }

    func testDownloadMistakesSayWhatTheFileIs() throws {
        let folder = try Fixtures.folder(for: self)
        let lfs = Fixtures.path("torch/lfs_pointer.pt"), page = Fixtures.path("torch/download_page.pt")
        try assertConvertRefuses(checkpoint: lfs, naming: lfs, mentions: ["git-lfs pointer", "git lfs pull"], folder: folder)
        try assertConvertRefuses(clip: lfs, naming: lfs, mentions: ["git-lfs pointer"], folder: folder)
        try assertConvertRefuses(checkpoint: page, naming: page, mentions: ["HTML"], folder: folder)
        try assertConvertRefuses(clip: page, naming: page, mentions: ["HTML"], folder: folder)
        let legacy = Fixtures.path("torch/legacy.pt")
        try assertConvertRefuses(checkpoint: legacy, naming: legacy, mentions: ["legacy"], folder: folder)
        let empty = try hostile("empty.pt", [], in: folder)
        try assertConvertRefuses(checkpoint: empty, naming: empty, mentions: ["empty"], folder: folder)
        try FileManager.default.removeItem(atPath: empty)
        let model = try Fixtures.model()
        try assertConvertRefuses(checkpoint: model, naming: model, folder: folder)
    }

    func testInputPathsThatAreMissingOrFolders() throws {
        let folder = try Fixtures.folder(for: self)
        let missing = folder + "/missing.pt"
        try assertConvertRefuses(checkpoint: missing, naming: missing, mentions: ["no such file"], folder: folder)
        try assertConvertRefuses(clip: missing, naming: missing, mentions: ["no such file"], folder: folder)
        let sub = folder + "/sub"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: false)
        try assertConvertRefuses(checkpoint: sub, naming: sub, folder: folder)
        try FileManager.default.removeItem(atPath: sub)
    }

    func testOutputIntoAMissingFolderOrOntoAFolder() throws {
        let folder = try Fixtures.folder(for: self)
        let deep = folder + "/no/such/folder/out.ccm"
        let missing = try CLI.run(Fixtures.convertArguments(output: deep))
        assertRefused(missing, naming: deep, mentions: ["does not exist"])
        assertFolder(folder, holds: [])

        let onto = try CLI.run(Fixtures.convertArguments(output: folder))
        assertRefused(onto, naming: folder, mentions: ["directory"])
        assertFolder(folder, holds: [])
    }

    func testQuantizeOntoItsInputOrIntoAMissingFolderIsRefused() throws {
        let folder = try Fixtures.folder(for: self)
        let model = folder + "/model.ccm"
        try FileManager.default.copyItem(atPath: try Fixtures.model(), toPath: model)
        let original = try Fixtures.bytes(model)
        assertRefused(try CLI.run(["quantize", model, "-o", model]), naming: model, mentions: ["overwrite the input"])
        XCTAssertTrue(try Fixtures.bytes(model) == original, "the input model changed")
        let missing = folder + "/no/such/folder/q.ccm"
        assertRefused(try CLI.run(["quantize", model, "-o", missing]), naming: "/no/such/folder")
        let page = folder + "/page.ccm"
        try FileManager.default.copyItem(atPath: Fixtures.path("torch/download_page.pt"), toPath: page)
        assertRefused(try CLI.run(["quantize", page, "-o", folder + "/q.ccm"]), naming: page, mentions: ["HTML"])
        assertFolder(folder, holds: ["model.ccm", "page.ccm"])
    }

    func testUnreadableCheckpoint() throws {
        try XCTSkipIf(getuid() == 0, "running as root: permissions do not stop reads")
        let folder = try Fixtures.folder(for: self)
        let path = folder + "/locked.pt"
        try FileManager.default.copyItem(atPath: Fixtures.checkpoint, toPath: path)
        chmod(path, 0)
        defer { chmod(path, 0o644) }
        try assertConvertRefuses(checkpoint: path, naming: path, mentions: ["permission"], folder: folder)
    }
}
