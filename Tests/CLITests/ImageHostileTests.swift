import Foundation
import XCTest

/// Bad images through `clipcapctl caption` (docs/ERRORS.md, "Images"). A failed image costs
/// one line on stderr (`error: <file>: ...`), then the run ends with one summary line and
/// exit status 1; images that did decode are still captioned on stdout, in order.
final class ImageHostileTests: XCTestCase {
    private func caption(_ images: [String], extra: [String] = []) throws -> CLIResult {
        try CLI.run(["caption", "--threads", "1", "--model", try Fixtures.model()] + extra + images, timeout: 120)
    }

    /// A 1x1 24-bit BMP (54-byte header, one padded row).
    private static let bmp: [UInt8] = Array("BM".utf8) + le(58, 4) + le(0, 4) + le(54, 4) + le(40, 4) + le(1, 4) + le(1, 4)
        + le(1, 2) + le(24, 2) + le(0, 4) + le(4, 4) + le(2835, 4) + le(2835, 4) + le(0, 4) + le(0, 4) + [0, 0, 255, 0]

    func testCommittedBadImagesAreRefusedOneLineEach() throws {
        let expectations: [String: [String]] = [
            "bomb_100000x100000.png": ["100000x100000", "limit"],
            "bomb_65000x65000.jpg": ["65000x65000", "limit"],
            "corrupt_idat.png": ["corrupt"],
            "empty.jpg": ["empty"],
            "image.gif": ["GIF"],
            "missing_eoi_baseline.jpg": ["truncated"],
            "missing_eoi_progressive.jpg": ["truncated"],
            "text.jpg": ["not a JPEG or PNG", "extension"],
            "truncated.png": ["truncated"],
            "truncated_baseline.jpg": ["truncated"],
            "truncated_header.jpg": ["truncated"],
            "truncated_header.png": ["truncated"],
            "truncated_progressive.jpg": ["truncated"],
            "zero_height.jpg": ["40x0"],
            "zero_width.png": ["0x10"],
        ]
        let bad = Fixtures.path("images/bad")
        XCTAssertEqual(Set(listing(bad)), Set(expectations.keys), "a bad-image fixture has no expectation here")
        for (name, mentions) in expectations.sorted(by: { $0.key < $1.key }) {
            let path = bad + "/" + name
            let result = try caption([path])
            assertRefused(result, naming: path, mentions: mentions, lines: 2)
            XCTAssertTrue(result.stderrLines.last?.contains("1 of 1 images could not be captioned") ?? false, result.stderr)
            XCTAssertTrue(result.stdout.isEmpty, result.stdout)
        }
    }

    func testFormatsWeDoNotDecodeAreNamed() throws {
        let folder = try Fixtures.folder(for: self)
        let cases: [(String, [UInt8], [String])] = [
            ("photo.bmp", Self.bmp, ["BMP"]),
            ("photo.webp", Array("RIFF".utf8) + le(30, 4) + Array("WEBPVP8 ".utf8) + [UInt8](repeating: 0, count: 22), ["WebP"]),
            ("photo.tif", [0x49, 0x49, 0x2A, 0x00] + [UInt8](repeating: 0, count: 40), ["TIFF"]),
            ("photo.heic", [0, 0, 0, 0x18] + Array("ftypheic".utf8) + [UInt8](repeating: 0, count: 20), ["HEIF"]),
            ("notes.png", Array("these are my holiday notes\n".utf8), ["not a JPEG or PNG", "extension"]),
            ("random.jpg", (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }, ["not a JPEG or PNG"]),
            ("lfs.jpg", try Fixtures.bytes(Fixtures.path("torch/lfs_pointer.pt")), ["not a JPEG or PNG"]),
            ("page.png", try Fixtures.bytes(Fixtures.path("torch/download_page.pt")), ["not a JPEG or PNG"]),
        ]
        for (name, bytes, mentions) in cases {
            let path = folder + "/" + name
            try Fixtures.write(bytes, to: path)
            assertRefused(try caption([path]), naming: path, mentions: mentions, lines: 2)
        }
        assertFolder(folder, holds: cases.map(\.0))
    }

    func testWrongExtensionsStillDecodeFromTheBytes() throws {
        let folder = try Fixtures.folder(for: self)
        let pngAsJPEG = folder + "/really-a-png.jpg", jpegAsPNG = folder + "/really-a-jpeg.png"
        try FileManager.default.copyItem(atPath: Fixtures.png, toPath: pngAsJPEG)
        try FileManager.default.copyItem(atPath: Fixtures.jpeg, toPath: jpegAsPNG)
        let renamed = try caption([pngAsJPEG, jpegAsPNG])
        let originals = try caption([Fixtures.png, Fixtures.jpeg])
        assertSucceeded(renamed)
        assertSucceeded(originals)
        let captions = { (r: CLIResult) in r.stdout.split(separator: "\n").map { $0.split(separator: "\t").dropFirst().joined(separator: "\t") } }
        XCTAssertEqual(captions(renamed), captions(originals))
        XCTAssertEqual(captions(renamed).count, 2)
    }

    func testGiganticDeclaredDimensionsAreRefusedBeforeAllocating() throws {
        let folder = try Fixtures.folder(for: self)
        // A PNG whose IHDR claims 2^31-1 x 2^31-1 (valid CRC), and nothing after it.
        var ihdr = Array("IHDR".utf8) + [0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 8, 2, 0, 0, 0]
        let crc = crc32(ihdr)
        ihdr = [0, 0, 0, 13] + ihdr + [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
        let png = folder + "/huge.png"
        try Fixtures.write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + ihdr, to: png)
        // A JPEG whose SOF0 claims 65535 x 65535.
        let jpeg = folder + "/huge.jpg"
        let sof: [UInt8] = [0xFF, 0xC0, 0, 17, 8, 0xFF, 0xFF, 0xFF, 0xFF, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]
        try Fixtures.write([0xFF, 0xD8] + sof + [0xFF, 0xD9], to: jpeg)
        for path in [png, jpeg] {
            assertRefused(try caption([path]), naming: path, mentions: ["limit"], lines: 2)
        }
    }

    func testFoldersFIFOsAndMissingImages() throws {
        let folder = try Fixtures.folder(for: self)
        try FileManager.default.copyItem(atPath: Fixtures.png, toPath: folder + "/good.png")
        // A folder whose name looks like an image is a folder: walked like any other (docs/SCALE.md).
        try FileManager.default.createDirectory(atPath: folder + "/folder.jpg", withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: Fixtures.png, toPath: folder + "/folder.jpg/inner.png")
        XCTAssertEqual(mkfifo(folder + "/pipe.jpg", 0o644), 0)
        let result = try caption([folder], extra: ["--jobs", "2"])
        assertNoCrash(result)
        XCTAssertEqual(result.exitCode, 3, "completed, but an image failed")
        XCTAssertEqual(result.stdout.split(separator: "\n").count, 2, "the good images are still captioned: \(result.stdout)")
        XCTAssertTrue(result.stdout.hasPrefix(folder + "/folder.jpg/inner.png\t"), result.stdout)
        let lines = result.stderrLines
        XCTAssertEqual(lines.count, 2, result.stderr)
        XCTAssertTrue(lines.contains { $0.contains(folder + "/pipe.jpg") && $0.contains("special file") }, result.stderr)
        XCTAssertTrue(lines.last?.contains("1 of 3 images") ?? false, result.stderr)

        let missing = folder + "/missing.jpg"
        assertRefused(try caption([missing]), naming: missing, mentions: ["no such file"])
        let empty = folder + "/empty-folder"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
        assertRefused(try caption([empty]), naming: empty, mentions: ["no .jpg/.jpeg/.png images"])
        assertFolder(folder, holds: ["empty-folder", "folder.jpg", "good.png", "pipe.jpg"])
    }

    func testUnreadableImage() throws {
        try XCTSkipIf(getuid() == 0, "running as root: permissions do not stop reads")
        let folder = try Fixtures.folder(for: self)
        let path = folder + "/locked.png"
        try FileManager.default.copyItem(atPath: Fixtures.png, toPath: path)
        chmod(path, 0)
        defer { chmod(path, 0o644) }
        assertRefused(try caption([path]), naming: path, mentions: ["permission"], lines: 2)
    }
}

/// CRC-32 (ISO-HDLC, as PNG chunks use).
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}
