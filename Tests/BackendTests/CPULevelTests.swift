import CCPUFeatures
import CVectorKernels
import XCTest

/// The C kernels' run-time dispatch: every instruction-set level this CPU has (portable C
/// always, AVX2+FMA and AVX-512 where present) must pass the BLAS-versus-naive checks of the
/// vectorised ops, so a machine without AVX2 (or an aarch64 one, which builds the portable
/// source) computes what the tested paths compute.
final class CPULevelTests: XCTestCase {
    override func tearDown() {
        clipcap_cpu_set_limit(-1)
        super.tearDown()
    }

    /// Each level this CPU supports, lowest first.
    var levels: [Int32] { Array(Int32(CLIPCAP_CPU_PORTABLE)...clipcap_cpu_detected_level()) }

    func testLevelsAreOrderedAndNamed() {
        let detected = clipcap_cpu_detected_level()
        XCTAssert((Int32(CLIPCAP_CPU_PORTABLE)...Int32(CLIPCAP_CPU_AVX512)).contains(detected))
        XCTAssertEqual(levels.map { String(cString: clipcap_cpu_level_name($0)) },
                       Array(["portable", "avx2", "avx512"].prefix(levels.count)))
        XCTAssertEqual(String(cString: clipcap_cpu_level_name(99)), "portable")
        // A cap above the CPU's level changes nothing; below it, it is the level.
        clipcap_cpu_set_limit(Int32(CLIPCAP_CPU_AVX512))
        XCTAssertEqual(clipcap_cpu_level(), detected)
        clipcap_cpu_set_limit(Int32(CLIPCAP_CPU_PORTABLE))
        XCTAssertEqual(clipcap_cpu_level(), Int32(CLIPCAP_CPU_PORTABLE))
        XCTAssertEqual(clipcap_cpu_has_avx512_vnni(), 0)
    }

    func testEveryLevelMatchesNaive() throws {
        // The checks' own instance; its failures are reported on this test.
        let checks = BLASMatchesNaiveTests(name: "CPULevelTests.checks", testClosure: { _ in })
        for level in levels {
            clipcap_cpu_set_limit(level)
            XCTAssertEqual(clipcap_cpu_level(), level)
            try checks.testUnaryOpsSmallAndLarge()
            try checks.testRowwiseOps()
            try checks.testLinearAllLayoutsTypesActivations()
            try checks.testAttentionRandomShapes()
        }
    }

    /// The variants agree with each other to float rounding (FMA versus separate multiply-add)
    /// on values across the range, including the special cases.
    func testLevelsAgreeOnSpecialValues() {
        var values: [Float] = [0, -0.0, 1e-30, -1e-30, 0.5, -0.5, 0.625, -0.625, 3, -3, 20, -20, 88, -88,
                               88.5, -88.5, 100, -100, .infinity, -.infinity, .greatestFiniteMagnitude]
        values += (0..<997).map { Float($0 - 498) * 0.0371 }
        let count = values.count
        var results: [[Float]] = []
        for level in levels {
            clipcap_cpu_set_limit(level)
            var all: [Float] = []
            for code in [CVK_ACTIVATION_RELU, CVK_ACTIVATION_TANH, CVK_ACTIVATION_QUICK_GELU,
                         CVK_ACTIVATION_GELU_TANH, CVK_ACTIVATION_GELU_ERF] {
                var out = [Float](repeating: .nan, count: count)
                cvk_activation_rows(Int32(code), 0, values, 0, nil, &out, 0, 1, Int64(count))
                all += out
            }
            var e = [Float](repeating: .nan, count: count)
            let sum = cvk_exp_shifted(values, 1, &e, Int64(count))
            XCTAssert(sum.isInfinite || sum.isNaN == false)
            // e^(-inf - 1) is exactly 0; e^(x - 1) for x = +inf saturates, never NaN.
            XCTAssertEqual(e[values.firstIndex(of: -.infinity)!], 0)
            XCTAssertFalse(e.contains { $0.isNaN })
            results.append(all + e)
        }
        for (level, result) in zip(levels, results).dropFirst() {
            for i in 0..<result.count {
                let a = results[0][i], b = result[i]
                if a.isFinite || b.isFinite {
                    XCTAssertLessThanOrEqual(abs(a - b), 4e-7 * max(abs(a), 1e-3),
                                             "level \(level), element \(i): portable \(a) vs \(b)")
                } else {
                    XCTAssertEqual(a.isNaN, b.isNaN, "level \(level), element \(i)")
                }
            }
        }
    }

    /// A NaN in a row stays visible (the non-finite checks of the decoding loop rely on it).
    func testNaNPropagatesOnEveryLevel() {
        for level in levels {
            clipcap_cpu_set_limit(level)
            var row: [Float] = [1, 2, .nan, 4, 5, 6, 7, 8, 9, 10, 11]
            cvk_softmax_rows(row, &row, 1, Int64(row.count))
            XCTAssert(row.allSatisfy { $0.isNaN }, "softmax at level \(level): \(row)")
            var x: [Float] = [.nan, 1, 2]
            cvk_activation_rows(Int32(CVK_ACTIVATION_GELU_TANH), 0, x, 0, nil, &x, 0, 1, 3)
            XCTAssert(x[0].isNaN, "gelu_tanh at level \(level)")
        }
    }
}

/// f16 widening (model files keep CLIP in f16): every one of the 65,536 halves, on every level,
/// equals Swift's own conversion (NaNs: still NaN with the same sign).
final class HalfWideningTests: XCTestCase {
    override func tearDown() {
        clipcap_cpu_set_limit(-1)
        super.tearDown()
    }

    func testEveryHalfOnEveryLevel() {
        let halves = (0...UInt16.max).map { $0 }
        let want = halves.map { Float(Float16(bitPattern: $0)) }
        for level in Int32(CLIPCAP_CPU_PORTABLE)...clipcap_cpu_detected_level() {
            clipcap_cpu_set_limit(level)
            var got = [Float](repeating: 0, count: halves.count)
            cvk_f16_to_f32(halves, &got, Int64(halves.count))
            // Unaligned source: one byte in.
            var bytes = [UInt8](repeating: 0, count: 2 * halves.count + 1)
            halves.withUnsafeBytes { raw in for i in 0..<raw.count { bytes[i + 1] = raw[i] } }
            var shifted = [Float](repeating: 0, count: halves.count)
            bytes.withUnsafeBytes { cvk_f16_to_f32($0.baseAddress! + 1, &shifted, Int64(halves.count)) }
            var mismatches = 0
            for i in 0..<halves.count {
                let same = want[i].isNaN ? (got[i].isNaN && got[i].sign == want[i].sign)
                                         : got[i].bitPattern == want[i].bitPattern
                if !same || shifted[i].bitPattern != got[i].bitPattern {
                    mismatches += 1
                    if mismatches <= 5 { XCTFail("level \(level): half 0x\(String(halves[i], radix: 16)) -> \(got[i]), want \(want[i])") }
                }
            }
            XCTAssertEqual(mismatches, 0, "level \(level)")
            XCTAssertEqual(cvk_half_to_float(0x3c00), 1)
        }
    }
}
