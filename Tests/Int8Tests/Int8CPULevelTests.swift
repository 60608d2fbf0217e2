import CCPUFeatures
import CInt8Kernels
import XCTest

/// The int8 kernels' variants (portable C, AVX2, AVX-512 VNNI where present) give the same
/// results: the int32 sums are exact, so per_channel outputs must be identical; block outputs
/// accumulate floats in a different order and agree to rounding.
final class Int8CPULevelTests: XCTestCase {
    override func tearDown() {
        clipcap_cpu_set_limit(-1)
        super.tearDown()
    }

    struct Problem {
        let m: Int, k: Int, n: Int
        let x: [Float], w: [Int8], sw: [Float], bias: [Float]
    }

    func problems() -> [Problem] {
        var rng = SeededRandom(seed: 31)
        return [(1, 768, 37), (2, 45, 7), (5, 96, 13), (3, 64, 4), (1, 1, 5), (7, 130, 10), (4, 257, 9)].map { m, k, n in
            Problem(m: m, k: k, n: n,
                    x: (0..<(m * k)).map { _ in rng.normal(1) },
                    w: (0..<(n * k)).map { _ in rng.int8() },
                    sw: (0..<n).map { _ in rng.uniform(0.001, 0.01) },
                    bias: (0..<n).map { _ in rng.uniform(-1, 1) })
        }
    }

    /// quantize + per_channel + block (32) + the shifted (VNNI-style) product at the current level.
    func run(_ p: Problem) -> (q: [Int8], perChannel: [Float], block: [Float], shifted: [Float]) {
        var q = [Int8](repeating: 0, count: p.m * p.k), sx = [Float](repeating: 0, count: p.m)
        ci8_quantize_rows(p.x, Int64(p.m), Int64(p.k), Int64(p.k), &q, &sx)
        var perChannel = [Float](repeating: .nan, count: p.m * p.n)
        ci8_linear_per_channel(q, sx, Int64(p.m), Int64(p.k), p.w, p.sw, p.bias, 0, Int64(p.n), &perChannel, Int64(p.n))

        let nb = (p.k + 31) / 32
        var qb = [Int8](repeating: 0, count: p.m * p.k), sxb = [Float](repeating: 0, count: p.m * nb)
        ci8_quantize_rows(p.x, Int64(p.m), Int64(p.k), 32, &qb, &sxb)
        let swb = (0..<(p.n * nb)).map { Float($0 % 7 + 1) * 0.002 }
        var block = [Float](repeating: .nan, count: p.m * p.n)
        ci8_linear_block(qb, sxb, Int64(p.m), Int64(p.k), 32, p.w, swb, p.bias, 0, Int64(p.n), &block, Int64(p.n))

        var sums = [Int32](repeating: 0, count: p.n)
        ci8_row_sums(p.w, Int64(p.n), Int64(p.k), &sums)
        var u = [UInt8](repeating: 0, count: q.count)
        ci8_shift_to_unsigned(q, Int64(q.count), &u)
        var shifted = [Float](repeating: .nan, count: p.m * p.n)
        ci8_linear_per_channel_vnni(u, sx, Int64(p.m), Int64(p.k), p.w, sums, p.sw, p.bias, 0, Int64(p.n), &shifted, Int64(p.n))
        return (q, perChannel, block, shifted)
    }

    func testEveryLevelGivesTheSameResults() {
        let levels = Array(Int32(CLIPCAP_CPU_PORTABLE)...clipcap_cpu_detected_level())
        for p in problems() {
            clipcap_cpu_set_limit(Int32(CLIPCAP_CPU_PORTABLE))
            XCTAssertEqual(String(cString: ci8_kernel_name()), "portable")
            let reference = run(p)
            // The shifted product takes the shift back out exactly.
            XCTAssertEqual(reference.shifted, reference.perChannel, "shifted vs per_channel \(p.m)x\(p.k)x\(p.n)")
            for level in levels.dropFirst() {
                clipcap_cpu_set_limit(level)
                let got = run(p)
                XCTAssertEqual(got.q, reference.q, "quantize at level \(level)")
                XCTAssertEqual(got.perChannel, reference.perChannel, "per_channel at level \(level), \(p.m)x\(p.k)x\(p.n)")
                XCTAssertEqual(got.shifted, reference.shifted, "vnni-style at level \(level)")
                for i in 0..<got.block.count {
                    XCTAssertEqual(got.block[i], reference.block[i], accuracy: 1e-5 * max(1, abs(reference.block[i])),
                                   "block at level \(level), output \(i)")
                }
            }
        }
    }

    func testPortableDotIsExactAtTheSaturationWorstCase() {
        clipcap_cpu_set_limit(Int32(CLIPCAP_CPU_PORTABLE))
        for k in [1, 31, 32, 33, 1000, 4099] {
            let a = [Int8](repeating: -127, count: k), b = [Int8](repeating: -127, count: k)
            XCTAssertEqual(ci8_dot(a, b, Int64(k)), Int32(k * 127 * 127))
            XCTAssertEqual(ci8_dot_vnni(a, b, Int64(k)), Int32(k * 127 * 127))
        }
    }
}
