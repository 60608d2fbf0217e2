import Foundation
import XCTest
@testable import ImageIO
import TestSupport

/// Decoded pixels must be byte-identical to `ImageOps.exif_transpose(Image.open(p)).convert("RGB")`.
final class DecodeReferenceTests: XCTestCase {
    func testSyntheticImagesDecodeExactlyAsPillow() throws {
        let refs = try Fixtures.references()
        XCTAssertEqual(refs.synthetic.count, 37)
        for entry in refs.synthetic {
            let image = try ImageDecoder.decode(path: Fixtures.path(entry.file))
            assertMatches(image, entry)
        }
    }

    func testSeedPhotosDecodeExactlyAsPillow() throws {
        try XCTSkipUnless(Fixtures.seedAvailable, "seed photos not found at \(Fixtures.seedDirectory.path); skipping")
        let refs = try Fixtures.references()
        XCTAssertEqual(refs.seed.count, 17)
        for entry in refs.seed {
            let image = try ImageDecoder.decode(path: Fixtures.seedPath(entry.file))
            assertMatches(image, entry)
        }
    }

    func testOrientationCanBeTurnedOff() throws {
        let path = Fixtures.path("synthetic/exif_orientation_6.jpg")
        let upright = try ImageDecoder.decode(path: path)
        let raw = try ImageDecoder.decode(path: path, limits: ImageLimits(applyExifOrientation: false))
        XCTAssertEqual(raw.width, upright.height)
        XCTAssertEqual(raw.height, upright.width)
        let plain = try ImageDecoder.decode(path: Fixtures.path("synthetic/exif_orientation_1.jpg"))
        XCTAssertEqual(raw, plain)
    }

    func testExtensionIsIgnored() throws {
        let bytes = try Fixtures.bytes("synthetic/rgb.png")
        let image = try ImageDecoder.decode(data: bytes, name: "actually-a-png.jpg")
        XCTAssertEqual(image.width, 23)
    }

    private func assertMatches(_ image: RGBImage, _ entry: ImageReferences.Entry, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(image.width, entry.width, "\(entry.file) width", file: file, line: line)
        XCTAssertEqual(image.height, entry.height, "\(entry.file) height", file: file, line: line)
        let digest = SHA256.hex(image.pixels)
        guard digest != entry.rgb_sha256 else { return }
        var detail = ""
        if let encoded = entry.rgb_base64, let reference = Data(base64Encoded: encoded), reference.count == image.pixels.count {
            let diffs = zip(image.pixels, reference).map { abs(Int($0) - Int($1)) }
            detail = "; \(diffs.filter { $0 > 0 }.count) bytes differ, max difference \(diffs.max() ?? 0)"
        }
        XCTFail("\(entry.file): decoded pixels differ from Pillow's\(detail)", file: file, line: line)
    }
}
