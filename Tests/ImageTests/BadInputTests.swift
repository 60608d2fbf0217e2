import Foundation
import XCTest
@testable import ImageIO

/// Every kind of bad input gets its own `ImageError` case, with a message naming the file.
final class BadInputTests: XCTestCase {
    private func error(decoding path: String, limits: ImageLimits = .init()) -> ImageError? {
        do {
            _ = try ImageDecoder.decode(path: path, limits: limits)
            return nil
        } catch let error as ImageError {
            XCTAssertTrue(error.description.contains(path) || error.description.contains((path as NSString).lastPathComponent),
                          "message does not name the file: \(error)")
            return error
        } catch {
            XCTFail("\(path): non-ImageError \(error)")
            return nil
        }
    }

    private func assertError(_ file: String, limits: ImageLimits = .init(), line: UInt = #line,
                             _ matches: (ImageError) -> Bool) {
        let path = Fixtures.path(file)
        guard let error = error(decoding: path, limits: limits) else {
            return XCTFail("\(file): decoded without error", line: line)
        }
        XCTAssertTrue(matches(error), "\(file): unexpected error \(error)", line: line)
    }

    func testTruncatedFiles() {
        for file in ["bad/truncated_baseline.jpg", "bad/truncated_progressive.jpg", "bad/truncated_header.jpg",
                     "bad/truncated.png", "bad/truncated_header.png",
                     // Pillow also refuses these: its suspending libjpeg source needs the EOI marker
                     "bad/missing_eoi_baseline.jpg", "bad/missing_eoi_progressive.jpg"] {
            assertError(file) { if case .truncated = $0 { return true } else { return false } }
        }
    }

    func testDecompressionBombsAreRejectedFromTheHeader() {
        assertError("bad/bomb_100000x100000.png") {
            if case .tooManyPixels(_, 100_000, 100_000, _) = $0 { return true } else { return false }
        }
        assertError("bad/bomb_65000x65000.jpg") {
            if case .tooManyPixels(_, 65_000, 65_000, _) = $0 { return true } else { return false }
        }
        // a valid image over a lowered limit
        assertError("synthetic/down_320x240.jpg", limits: ImageLimits(maxPixels: 320 * 240 - 1)) {
            if case .tooManyPixels(_, 320, 240, 76_799) = $0 { return true } else { return false }
        }
    }

    func testZeroSizedImages() {
        assertError("bad/zero_width.png") { if case .zeroSize(_, 0, 10) = $0 { return true } else { return false } }
        assertError("bad/zero_height.jpg") { if case .zeroSize(_, 40, 0) = $0 { return true } else { return false } }
    }

    func testNonImagesAndOtherFormats() {
        assertError("bad/empty.jpg") { if case .emptyFile = $0 { return true } else { return false } }
        assertError("bad/text.jpg") {
            if case .unrecognizedFormat(_, let detail) = $0 { return detail.contains("extension") } else { return false }
        }
        assertError("bad/image.gif") { if case .unsupported(_, "GIF", _) = $0 { return true } else { return false } }
        assertError("bad/corrupt_idat.png") { if case .corrupt(_, "PNG", _) = $0 { return true } else { return false } }
        XCTAssertEqual(try? ImageDecoder.decode(data: []), nil)
        XCTAssertThrowsError(try ImageDecoder.decode(data: [0xFF, 0xD8, 0xFF])) { error in
            guard case ImageError.truncated = error else { return XCTFail("\(error)") }
        }
    }

    func testFileSystemProblems() throws {
        let missing = Fixtures.path("does/not/exist.jpg")
        guard case .fileNotFound(missing)? = error(decoding: missing) else { return XCTFail("missing file") }

        let directory = Fixtures.path("synthetic")
        guard case .notAFile(directory)? = error(decoding: directory) else { return XCTFail("directory") }

        assertError("synthetic/down_320x240.jpg", limits: ImageLimits(maxFileBytes: 1000)) {
            if case .fileTooLarge(_, _, 1000) = $0 { return true } else { return false }
        }

        let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("clipcap-fifo-\(getpid()).jpg").path
        if mkfifo(fifo, 0o600) == 0 {
            defer { unlink(fifo) }
            guard case .notAFile(fifo)? = error(decoding: fifo) else { return XCTFail("FIFO must be rejected, not waited on") }
        }

        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("clipcap-unreadable-\(getpid()).png")
        try Data(try Fixtures.bytes("synthetic/rgb.png")).write(to: temporary)
        defer { try? FileManager.default.removeItem(at: temporary) }
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: temporary.path)
        if FileManager.default.isReadableFile(atPath: temporary.path) {
            print("note: running as a user who can read mode-000 files (root); unreadable-file case not exercised")
        } else {
            guard case .unreadable? = error(decoding: temporary.path) else { return XCTFail("unreadable file") }
        }
    }

    /// Pillow's verdict on each bad file is recorded in references.json; we agree with it
    /// except on GIF (Pillow decodes it, we only accept JPEG and PNG).
    func testSameVerdictAsPillow() throws {
        for bad in try Fixtures.references().bad {
            var ours = true
            do { _ = try ImageDecoder.decode(path: Fixtures.path(bad.file)) } catch {
                ours = false
                print("[images] \(error)")
            }
            if bad.file.hasSuffix(".gif") { continue }
            XCTAssertEqual(ours, bad.pil == "ok", "\(bad.file): Pillow says \(bad.pil) \(bad.pil_error ?? "")")
        }
    }

    func testMessagesSayWhatToDo() {
        let samples: [ImageError] = [
            .fileNotFound(path: "a.jpg"), .notAFile(path: "d"), .unreadable(path: "a.jpg", reason: "Permission denied"),
            .emptyFile(name: "a.jpg"), .fileTooLarge(name: "a.jpg", bytes: 10, limit: 5),
            .unrecognizedFormat(name: "a.jpg", detail: "x"), .unsupported(name: "a.gif", format: "GIF", detail: "x"),
            .zeroSize(name: "a.png", width: 0, height: 1), .tooManyPixels(name: "a.png", width: 9, height: 9, limit: 1),
            .truncated(name: "a.jpg", format: "JPEG", detail: "x"), .corrupt(name: "a.png", format: "PNG", detail: "x"),
            .outOfMemory(name: "a.png", bytes: 1),
        ]
        for error in samples {
            let text = error.description
            XCTAssertTrue(text.hasPrefix("a.") || text.hasPrefix("d:"), text)
            XCTAssertTrue(text.contains(". "), "no remedy sentence: \(text)")
        }
    }
}
