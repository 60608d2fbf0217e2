import Foundation
import XCTest
@testable import ImageIO
import TestSupport

/// CLIP preprocessing against torchvision's Resize(224, BICUBIC) + CenterCrop + ToTensor +
/// Normalize on the Pillow-decoded image. Tolerance: the uint8 crop must be identical
/// (sha256) and every tensor value equal to the reference bit for bit (we report the max
/// absolute difference; the assertion allows 1e-6 so a future Pillow rounding change shows
/// up as a clear failure with numbers rather than a hash mismatch only).
final class PreprocessReferenceTests: XCTestCase {
    static let tolerance: Float = 1e-6
    let preprocessor = CLIPPreprocessor()

    func testSyntheticImages() throws {
        let refs = try Fixtures.references()
        for entry in refs.synthetic {
            try check(try ImageDecoder.decode(path: Fixtures.path(entry.file)), entry)
        }
    }

    func testSeedPhotos() throws {
        try XCTSkipUnless(Fixtures.seedAvailable, "seed photos not found at \(Fixtures.seedDirectory.path); skipping")
        let refs = try Fixtures.references()
        for entry in refs.seed {
            try check(try ImageDecoder.decode(path: Fixtures.seedPath(entry.file)), entry)
        }
    }

    func testDefaultsAreCLIPs() throws {
        let refs = try Fixtures.references()
        XCTAssertEqual(preprocessor.mean, refs.mean)
        XCTAssertEqual(preprocessor.std, refs.std)
        XCTAssertEqual(preprocessor.size, 224)
    }

    func testGeometryFollowsTorchvision() {
        // (w, h) -> resized (w, h), crop (left, top)
        let g1 = CLIPPreprocessor.geometry(width: 303, height: 224, size: 224)
        XCTAssertEqual([g1.width, g1.height, g1.left, g1.top], [303, 224, 40, 0])  // round(39.5) = 40
        let g2 = CLIPPreprocessor.geometry(width: 100, height: 333, size: 224)
        XCTAssertEqual([g2.width, g2.height, g2.left, g2.top], [224, 745, 0, 260])  // round(260.5) = 260
        let g3 = CLIPPreprocessor.geometry(width: 1024, height: 768, size: 224)
        XCTAssertEqual([g3.width, g3.height, g3.left, g3.top], [298, 224, 37, 0])
    }

    func testIntoBufferMatchesArrayVersion() throws {
        let image = try ImageDecoder.decode(path: Fixtures.path("synthetic/down_320x240.jpg"))
        let expected = preprocessor.process(image)
        var out = [Float](repeating: .nan, count: 3 * 224 * 224 + 5)
        out.withUnsafeMutableBufferPointer { preprocessor.process(image, into: $0) }
        XCTAssertEqual(Array(out.prefix(expected.count)), expected)
        XCTAssertTrue(out.suffix(5).allSatisfy { $0.isNaN }, "wrote past 3*224*224")
    }

    func testExtremeAspectRatioOnlyComputesTheCrop() {
        // 1 x 40000 would resize to 224 x 8,960,000 in Pillow; we compute the 224x224 window only.
        let tall = RGBImage(width: 1, height: 40_000, pixels: (0..<120_000).map { UInt8(truncatingIfNeeded: $0 / 7) })
        let tensor = preprocessor.process(tall)
        XCTAssertEqual(tensor.count, 3 * 224 * 224)
        XCTAssertTrue(tensor.allSatisfy { $0.isFinite })
    }

    private func check(_ image: RGBImage, _ entry: ImageReferences.Entry, file: StaticString = #filePath, line: UInt = #line) throws {
        let crop = preprocessor.resizedCrop(image)
        XCTAssertEqual(SHA256.hex(crop.pixels), entry.crop_sha256, "\(entry.file): 224x224 crop differs from torchvision's", file: file, line: line)
        let tensor = preprocessor.process(image)
        var maxDiff: Float = 0
        for (i, expected) in entry.samples.enumerated() {
            maxDiff = max(maxDiff, abs(tensor[i * entry.sample_stride] - expected))
        }
        let plane = 224 * 224
        for c in 0..<3 {
            let sum = tensor[(c * plane)..<((c + 1) * plane)].reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(sum, entry.channel_sums[c], accuracy: 1e-6 * Double(plane), "\(entry.file) channel \(c) sum", file: file, line: line)
        }
        if let tensorFile = entry.tensor_file {
            let reference = try Fixtures.floats(tensorFile)
            XCTAssertEqual(reference.count, tensor.count)
            for (a, b) in zip(tensor, reference) { maxDiff = max(maxDiff, abs(a - b)) }
        }
        XCTAssertLessThanOrEqual(maxDiff, Self.tolerance, "\(entry.file): tensor max |diff| \(maxDiff)", file: file, line: line)
    }
}
