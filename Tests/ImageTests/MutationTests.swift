import Foundation
import XCTest
@testable import ImageIO
import TestSupport

/// Deterministic mutation fuzzing of small JPEG/PNG fixtures: byte flips, overwrites with
/// marker-like bytes, truncations and splices. Every mutant must either decode (and then
/// preprocess) or throw an `ImageError`; a crash fails the whole test run.
final class MutationTests: XCTestCase {
    /// SplitMix64 (TestSupport): fixed seed, same mutants on every machine.
    typealias Generator = SplitMix64

    static let sources = [
        "synthetic/rgb_q90_420.jpg", "synthetic/progressive.jpg", "synthetic/cmyk.jpg", "synthetic/gray.jpg",
        "synthetic/exif_orientation_6.jpg", "synthetic/xmp_orientation_6.jpg", "synthetic/rgb.png",
        "synthetic/palette_transparency.png", "synthetic/interlaced_rgb.png", "synthetic/rgb16.png",
        "synthetic/gray_2bit.png", "synthetic/exif_orientation_8.png",
    ]

    func testMutantsNeverCrash() throws {
        var random = Generator(seed: 20_240_601)
        let limits = ImageLimits(maxPixels: 4_000_000)
        let preprocessor = CLIPPreprocessor(size: 32)
        var decoded = 0, rejected = 0
        for source in Self.sources {
            let original = try Fixtures.bytes(source)
            for _ in 0..<150 {
                let mutant = mutate(original, &random)
                do {
                    let image = try ImageDecoder.decode(data: mutant, name: source, limits: limits)
                    XCTAssertEqual(image.pixels.count, image.width * image.height * 3)
                    _ = preprocessor.process(image)
                    decoded += 1
                } catch is ImageError {
                    rejected += 1
                } catch {
                    XCTFail("\(source): mutant raised a non-ImageError \(error)")
                }
            }
        }
        print("mutation test: \(decoded) mutants decoded, \(rejected) rejected with ImageError")
        XCTAssertEqual(decoded + rejected, Self.sources.count * 150)
    }

    private func mutate(_ bytes: [UInt8], _ random: inout Generator) -> [UInt8] {
        var out = bytes
        // half of the mutations hit the first 400 bytes, where headers and tables live
        func position() -> Int { random.below(2) == 0 ? random.below(min(400, out.count)) : random.below(out.count) }
        switch random.below(6) {
        case 0:  // flip a few bits
            for _ in 0...random.below(4) { out[position()] ^= UInt8(1 << random.below(8)) }
        case 1:  // overwrite with bytes that look like markers or big sizes
            let values: [UInt8] = [0x00, 0xFF, 0xD8, 0xD9, 0xDA, 0xC0, 0xC2, 0x7F, 0x80]
            for _ in 0...random.below(3) { out[position()] = values[random.below(values.count)] }
        case 2:  // truncate
            out = Array(out.prefix(random.below(out.count)))
        case 3:  // splice: copy a run from elsewhere
            let from = random.below(out.count), to = position(), length = 1 + random.below(64)
            for i in 0..<length where from + i < out.count && to + i < out.count { out[to + i] = out[from + i] }
        case 4:  // delete a run
            let start = position(), length = 1 + random.below(32)
            out.removeSubrange(start..<min(out.count, start + length))
        default:  // random bytes in a run
            let start = position()
            for i in 0..<(1 + random.below(16)) where start + i < out.count { out[start + i] = UInt8(random.below(256)) }
        }
        return out
    }
}
