import Foundation
import XCTest
@testable import ImageIO

/// Prints decode and preprocessing times (best of several runs). Never asserts on time.
/// Meaningful only in release builds: `swift test -c release --filter ImageTests.PerformanceLog`.
final class PerformanceLog: XCTestCase {
    private func best(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        return best
    }

    func testPrintTimings() throws {
        #if DEBUG
        let build = "debug build: times are not representative"
        #else
        let build = "release build"
        #endif
        let preprocessor = CLIPPreprocessor()
        var generator = MutationTests.Generator(seed: 7)
        let photo = RGBImage(width: 1024, height: 768,
                             pixels: (0..<(1024 * 768 * 3)).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
        var output = [Float](repeating: 0, count: 3 * 224 * 224)
        let resize = best(5) { output.withUnsafeMutableBufferPointer { preprocessor.process(photo, into: $0) } }
        print(String(format: "[images] preprocess 1024x768 -> 3x224x224: %.2f ms (%@)", resize, build))

        let path = Fixtures.path("synthetic/down_320x240.jpg")
        let small = try best(5) { _ = try ImageDecoder.decode(path: path) }
        print(String(format: "[images] decode 320x240 JPEG: %.2f ms (%@)", small, build))
        if Fixtures.seedAvailable {
            let seed = Fixtures.seedPath("dev/256063.jpg")
            let decode = try best(5) { _ = try ImageDecoder.decode(path: seed) }
            let image = try ImageDecoder.decode(path: seed)
            let prep = best(5) { _ = preprocessor.process(image) }
            print(String(format: "[images] seed 500x332 JPEG: decode %.2f ms, preprocess %.2f ms (%@)", decode, prep, build))
        }
    }
}
