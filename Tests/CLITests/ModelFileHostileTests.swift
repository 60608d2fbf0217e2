import CCMFormat
import Foundation
import XCTest
import TestSupport

/// Hostile `.ccm` files through `inspect`, `verify` and `caption` (docs/ERRORS.md, "Model files").
/// Every variant is derived from the fixture model converted by the CLI itself.
final class ModelFileHostileTests: XCTestCase {
    /// `inspect`, `verify` and `caption` on `path` must each refuse it with one line naming it.
    /// `caption` and `inspect` write nothing, so `folder` must hold only `expected` afterwards.
    private func assertEveryCommandRefuses(_ path: String, mentions: [String] = [], folder: String,
                                           file: StaticString = #filePath, line: UInt = #line) throws {
        let before = listing(folder)
        for arguments in [["inspect", path], ["verify", path], ["caption", "--threads", "1", "--model", path, Fixtures.png]] {
            let result = try CLI.run(arguments, timeout: 60)
            assertRefused(result, naming: path, mentions: mentions, file: file, line: line)
            XCTAssertTrue(result.stdout.isEmpty, "stdout should be empty: \(result.stdout.prefix(200))", file: file, line: line)
        }
        assertFolder(folder, holds: before, path, file: file, line: line)
    }

    func testTruncatedAtEverySectionBoundaryAndRandomOffsets() throws {
        let folder = try Fixtures.folder(for: self)
        let good = try Fixtures.bytes(try Fixtures.model())
        let editor = CCMEditor(good)
        var rng = SplitMix64(seed: 11)
        let random = (0..<8).map { _ in Int.random(in: 1..<good.count, using: &rng) }
        let cuts = Set(editor.boundaries + random).subtracting([good.count]).sorted()
        XCTAssertGreaterThan(cuts.count, 30)
        for cut in cuts {
            let path = folder + "/cut-\(cut).ccm"
            try Fixtures.write(Array(good.prefix(cut)), to: path)
            // Below 64 bytes there is no header to compare the size with: any clear refusal will do.
            try assertEveryCommandRefuses(path, mentions: cut == 0 ? ["empty"] : (cut >= 64 ? ["truncated"] : []), folder: folder)
            try FileManager.default.removeItem(atPath: path)
        }
    }

    func testFlippedByteInHeaderTableAndEveryChecksummedSection() throws {
        let folder = try Fixtures.folder(for: self)
        let good = try Fixtures.bytes(try Fixtures.model())
        let editor = CCMEditor(good)
        var spots: [(String, Int)] = [8, 12, 16, 20, 24, 32, 40, 44, 48, 60].map { ("header byte \($0)", $0) }
        spots += [0, 8, 16, 24].map { ("section table byte \($0)", editor.tableOffset + $0) }
        for s in editor.sections where s.name != "tensor data" {
            spots += [("\(s.name) start", s.offset), ("\(s.name) middle", s.offset + s.length / 2),
                      ("\(s.name) end", s.offset + s.length - 1)]
        }
        for (what, offset) in spots {
            var bytes = good
            bytes[offset] ^= 0x5A
            let path = folder + "/flip-\(offset).ccm"
            try Fixtures.write(bytes, to: path)
            try assertEveryCommandRefuses(path, folder: folder)
            try FileManager.default.removeItem(atPath: path)
            _ = what
        }
    }

    func testFlippedTensorBytesAreFoundByVerifyAndByCaptionByDefault() throws {
        let folder = try Fixtures.folder(for: self)
        let good = try Fixtures.bytes(try Fixtures.model())
        let model = try ModelFile.open(path: try Fixtures.model())
        let victims = [model.tensors[0], model.tensors[model.tensors.count / 2], model.tensors[model.tensors.count - 1]]
        for victim in victims {
            var bytes = good
            bytes[victim.offset + victim.storedLength / 2] ^= 0x01
            let path = folder + "/tensor.ccm"
            try Fixtures.write(bytes, to: path)

            let inspect = try CLI.run(["inspect", path])
            assertSucceeded(inspect)   // opening does not read tensor pages (documented)

            let verify = try CLI.run(["verify", path])
            assertRefused(verify, naming: path, mentions: ["1 problem"])
            XCTAssertTrue(verify.stdout.contains(victim.name), verify.stdout)
            XCTAssertTrue(verify.stdout.contains("corrupt"), verify.stdout)

            // Checked by default: the flipped byte is an error naming the tensor, not a wrong caption.
            let checked = try CLI.run(["caption", "--threads", "1", "--model", path, Fixtures.png])
            let message = assertRefused(checked, naming: path, mentions: [victim.name])
            XCTAssertTrue(message.contains("CRC32C"), message)
            // The old flag still works (and still checks).
            let flagged = try CLI.run(["caption", "--threads", "1", "--verify-checksums", "--model", path, Fixtures.png])
            assertRefused(flagged, naming: path, mentions: [victim.name])
            // --no-verify opts out: no checksum error (the caption is whatever the flipped byte makes it).
            let unchecked = try CLI.run(["caption", "--threads", "1", "--no-verify", "--model", path, Fixtures.png])
            XCTAssertNil(unchecked.signal, unchecked.stderr)
            XCTAssertFalse(unchecked.stderr.contains("CRC32C"), unchecked.stderr)
            assertFolder(folder, holds: ["tensor.ccm"])
        }
    }

    func testLyingSizesOffsetsAndCountsBehindValidChecksums() throws {
        let folder = try Fixtures.folder(for: self)
        let base = CCMEditor(try Fixtures.bytes(try Fixtures.model()))
        guard let first = base.firstTensor, let table = base.section("tensor table"), let meta = base.section("metadata"),
              let data = base.section("tensor data") else { return XCTFail("fixture model has no tensor table") }
        let lies: [(String, [String], (inout CCMEditor) -> Void)] = [
            ("file length +64", ["truncated"], { $0.setU64($0.u64(at: 32) + 64, at: 32) }),
            ("file length -64", ["64 unexpected bytes"], { $0.setU64($0.u64(at: 32) - 64, at: 32) }),
            ("file length 2^63", [], { $0.setU64(1 << 63, at: 32) }),
            ("section table past the end", [], { $0.setU64(UInt64($0.bytes.count) * 2, at: 24) }),
            ("section table offset 2^64-8", [], { $0.setU64(UInt64.max - 7, at: 24) }),
            ("section count 0", [], { $0.setU32(0, at: 20) }),
            ("section count 65", [], { $0.setU32(65, at: 20) }),
            ("section count 2^32-1", [], { $0.setU32(.max, at: 20) }),
            ("metadata offset past the end", [], { $0.setU64(UInt64($0.bytes.count) + 8, at: meta.entryOffset + 8) }),
            ("metadata length 2^64-1", [], { $0.setU64(.max, at: meta.entryOffset + 16) }),
            ("metadata overlaps the tensor table", ["overlap"], { $0.setU64(UInt64(table.offset), at: meta.entryOffset + 8) }),
            ("tensor data length +64", [], { $0.setU64(UInt64(data.length + 64), at: data.entryOffset + 16) }),
            ("unknown required section kind", ["update"], { $0.setU32(99, at: meta.entryOffset) }),
            ("metadata count 2^32-1", [], { $0.setU32(.max, at: meta.offset) }),
            ("tensor count 2^32-1", [], { $0.setU32(.max, at: first.countOffset) }),
            ("tensor count 0", [], { $0.setU32(0, at: first.countOffset) }),
            ("tensor name length 2^32-1", [], { $0.setU32(.max, at: first.countOffset + 4) }),
            ("rank 200", [], { $0.bytes[first.rankOffset] = 200 }),
            ("unknown dtype code", ["dtype"], { $0.bytes[first.dtypeOffset] = 77 }),
            ("unknown encoding code", ["encoding"], { $0.bytes[first.encodingOffset] = 77 }),
            ("dimension 2^62", ["dimensions"], { $0.setU64(1 << 62, at: first.dimsOffset) }),
            ("dimension 0", [], { $0.setU64(0, at: first.dimsOffset) }),
            ("dimensions overflow", ["dimensions"], {
                for d in 0..<first.rank { $0.setU64(1 << 40, at: first.dimsOffset + 8 * d) }
            }),
            ("tensor offset misaligned", [], { $0.setU64($0.u64(at: first.dataOffsetField) + 4, at: first.dataOffsetField) }),
            ("tensor offset past the end", [], { $0.setU64(UInt64($0.bytes.count) * 4, at: first.dataOffsetField) }),
            ("tensor offset 2^64-64", [], { $0.setU64(UInt64.max - 63, at: first.dataOffsetField) }),
            ("stored length 2^64-1", [], { $0.setU64(.max, at: first.storedLengthField) }),
            ("byte count disagrees", [], { $0.setU64($0.u64(at: first.byteCountField) * 2, at: first.byteCountField) }),
        ]
        for (name, mentions, lie) in lies {
            var editor = base
            lie(&editor)
            editor.reseal()
            // The file name says which lie it is, so a failure message names the case.
            let path = folder + "/lie-" + name.map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined() + ".ccm"
            try Fixtures.write(editor.bytes, to: path)
            try assertEveryCommandRefuses(path, mentions: mentions, folder: folder)
            try FileManager.default.removeItem(atPath: path)
        }
    }

    func testBadZstdFramesBehindValidChecksums() throws {
        let folder = try Fixtures.folder(for: self)
        let source = try Fixtures.model(compressed: true)
        let good = try Fixtures.bytes(source)
        let model = try ModelFile.open(path: source)
        guard let victim = model.tensors.filter({ $0.encoding != .raw && $0.storedLength > 16 }).max(by: { $0.storedLength < $1.storedLength }) else {
            return XCTFail("the zstd fixture model has no compressed tensor")
        }
        let spots = [("frame magic", 0), ("frame header", 4), ("block header", 6),
                     ("middle", victim.storedLength / 2), ("last byte", victim.storedLength - 1)]
        for (what, at) in spots {
            var bytes = good
            bytes[victim.offset + at] ^= 0xA5
            var editor = CCMEditor(bytes)
            try rewriteChecksum(of: victim, in: &editor)
            editor.reseal()
            let path = folder + "/zstd-" + what.replacingOccurrences(of: " ", with: "-") + ".ccm"
            try Fixtures.write(editor.bytes, to: path)
            do {
                let verify = try CLI.run(["verify", path])
                assertRefused(verify, naming: path, mentions: ["1 problem"])
                XCTAssertTrue(verify.stdout.contains(victim.name) && verify.stdout.contains("decode"), verify.stdout)
                let caption = try CLI.run(["caption", "--threads", "1", "--model", path, Fixtures.png])
                assertRefused(caption, naming: path, mentions: [victim.name, "decode"])
            }
            try FileManager.default.removeItem(atPath: path)
        }
    }

    /// Sets `entry`'s CRC32C in the tensor table to that of its current stored bytes.
    private func rewriteChecksum(of entry: TensorEntry, in editor: inout CCMEditor) throws {
        let crc = CRC32C.checksum(Array(editor.bytes[entry.offset..<(entry.offset + entry.storedLength)]))
        guard let table = editor.section("tensor table") else { throw FixtureError(message: "no tensor table") }
        // Find the entry by its name (u32 length + UTF-8), then skip to its checksum field.
        let name = Array(entry.name.utf8)
        let needle = (0..<4).map { UInt8(truncatingIfNeeded: name.count >> (8 * $0)) } + name
        let region = Array(editor.bytes[table.offset..<(table.offset + table.length)])
        guard let at = (0...(region.count - needle.count)).first(where: { Array(region[$0..<($0 + needle.count)]) == needle }) else {
            throw FixtureError(message: "tensor \(entry.name) not found in the table")
        }
        let rank = Int(region[at + needle.count + 3])
        let checksumField = table.offset + at + needle.count + 4 + 8 * rank + 24
        editor.setU32(crc, at: checksumField)
    }

    func testFilesThatAreNotModels() throws {
        let folder = try Fixtures.folder(for: self)
        let cases: [(String, [UInt8], [String])] = [
            ("lfs.ccm", try Fixtures.bytes(Fixtures.path("torch/lfs_pointer.pt")), ["git-lfs", "git lfs pull"]),
            ("page.ccm", try Fixtures.bytes(Fixtures.path("torch/download_page.pt")), ["HTML"]),
            ("checkpoint.ccm", try Fixtures.bytes(Fixtures.checkpoint), ["PyTorch", "convert"]),
            ("empty.ccm", [], ["empty"]),
            ("text.ccm", Array("just some notes\n".utf8), []),
            ("weights.ccm", try Fixtures.bytes(Fixtures.path("models/clipcap-en-transformer.safetensors")), ["safetensors"]),
            ("gguf.ccm", Array("GGUF".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 56), ["GGUF"]),
            ("image.ccm", try Fixtures.bytes(Fixtures.png), []),
        ]
        for (name, bytes, mentions) in cases {
            let path = folder + "/" + name
            try Fixtures.write(bytes, to: path)
            try assertEveryCommandRefuses(path, mentions: mentions, folder: folder)
            try FileManager.default.removeItem(atPath: path)
        }
    }

    func testModelPathsThatAreFoldersOrMissing() throws {
        let folder = try Fixtures.folder(for: self)
        try assertEveryCommandRefuses(folder, mentions: ["directory"], folder: folder)
        try assertEveryCommandRefuses(folder + "/missing.ccm", mentions: ["no such file"], folder: folder)
    }

    func testUnreadableModel() throws {
        try XCTSkipIf(getuid() == 0, "running as root: permissions do not stop reads")
        let folder = try Fixtures.folder(for: self)
        let path = folder + "/locked.ccm"
        try FileManager.default.copyItem(atPath: try Fixtures.model(), toPath: path)
        chmod(path, 0)
        defer { chmod(path, 0o644) }
        try assertEveryCommandRefuses(path, mentions: ["permission"], folder: folder)
    }
}
