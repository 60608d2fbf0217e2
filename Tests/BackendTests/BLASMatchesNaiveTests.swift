import BLASBackend
import CCMFormat
import CCPUFeatures
import CFloatKernels
import Engine
import Foundation
import KernelSupport
import NaiveBackend
import XCTest

/// Every BLAS kernel against the naive reference on random shapes, including sizes that are not
/// multiples of 8/16, single rows (M = 1, the sgemv path), both weight layouts and f16/bf16
/// weights. Tolerances (relative to the largest reference magnitude, at least 1):
/// products 1e-5 · sqrt(K) (float vs Double accumulation), element-wise ops 2e-6, rows (layer_norm,
/// softmax, l2) 1e-5, attention 1e-5, data movement exact.
final class BLASMatchesNaiveTests: XCTestCase {
    let naive = NaiveBackend()
    let blas = BLASBackend()

    /// Runs `op` on both backends with the same operands; returns (blas, naive).
    func both(_ op: String, _ operands: [Operand], attrs: [String: AttrValue] = [:], outputShape: [Int],
              context: @autoclosure () -> ExecutionContext = Harness.makeContext()) throws -> ([Float], [Float]) {
        let fast = try Harness.run(blas, op, operands, attrs: attrs, outputShape: outputShape, context: context())
        let reference = try Harness.run(naive, op, operands, attrs: attrs, outputShape: outputShape, context: context())
        return (fast, reference)
    }

    func testLinearAllLayoutsTypesActivations() throws {
        var rng = SeededRandom(seed: 10)
        let shapes: [(m: Int, k: Int, n: Int)] = [(1, 5, 7), (1, 64, 33), (3, 13, 1), (17, 100, 130), (50, 96, 40), (2, 1, 9)]
        let activations = LinearActivation.allCases
        var trial = 0
        for (m, k, n) in shapes {
            for layout in ["io", "oi"] {
                for dtype in [DType.f32, .f16, .bf16] {
                    let activation = activations[trial % activations.count]
                    trial += 1
                    let x = rng.floats(m * k, in: -2...2)
                    let w = Harness.weight(rng.floats(k * n, in: -1...1), layout == "io" ? [k, n] : [n, k], dtype: dtype)
                    let withBias = trial % 3 != 0
                    let bias: Operand = withBias ? .weight(Harness.weight(rng.floats(n), [n], dtype: dtype, name: "b")) : .absent
                    let (fast, reference) = try both("linear", [.activation(x, [m, k]), .weight(w), bias],
                                                     attrs: ["w_layout": .string(layout), "activation": .string(activation.rawValue)],
                                                     outputShape: [m, n])
                    assertClose(fast, reference, tolerance: 1e-5 * Float(k).squareRoot(),
                                "linear m=\(m) k=\(k) n=\(n) \(layout) \(dtype) \(activation) bias=\(withBias)")
                }
            }
        }
        // A rank-3 input (rows = B·T) and a bias passed as an activation.
        let x = rng.floats(2 * 3 * 20, in: -1...1)
        let w = Harness.weight(rng.floats(20 * 24), [20, 24])
        let (fast, reference) = try both("linear", [.activation(x, [2, 3, 20]), .weight(w), .activation(rng.floats(24), [24])],
                                         attrs: ["activation": .string("gelu_tanh")], outputShape: [2, 3, 24])
        assertClose(fast, reference, tolerance: 1e-4)
    }

    /// 1-16 rows: the few-row kernels (AVX-512 or AVX2, whichever the CPU has), f32 weights and
    /// f16 `io` weights read in place — every row-pass remainder (1-5 of 5 or 6 rows per pass;
    /// 1-4 of 4 on AVX2), column tails that are not multiples of 4/8/16/32/64 (masked f16 loads,
    /// AVX2's 8-column and scalar tails), k tails and k multiples of 8 (AVX2's `oi` vector path),
    /// and shapes big enough to be split over the 2-thread pool.
    func testLinearFewRowsBothLayouts() throws {
        var rng = SeededRandom(seed: 12)
        let sizes: [(k: Int, n: Int)] = [(1, 1), (7, 5), (16, 64), (33, 70), (40, 37), (100, 131), (256, 45), (300, 600)]
        var trial = 0
        for m in Array(1...9) + [10, 13, 16] {
            for (k, n) in sizes {
                for layout in ["io", "oi"] {
                    for dtype in [DType.f32, .f16] {
                        trial += 1
                        let x = rng.floats(m * k, in: -2...2)
                        let w = Harness.weight(rng.floats(k * n, in: -1...1), layout == "io" ? [k, n] : [n, k], dtype: dtype)
                        let bias: Operand = trial % 2 == 0 ? .weight(Harness.weight(rng.floats(n), [n], name: "b")) : .absent
                        let (fast, reference) = try both("linear", [.activation(x, [m, k]), .weight(w), bias],
                                                         attrs: ["w_layout": .string(layout), "activation": .string(trial % 3 == 0 ? "gelu_tanh" : "none")],
                                                         outputShape: [m, n])
                        assertClose(fast, reference, tolerance: 1e-5 * Float(k).squareRoot(),
                                    "linear m=\(m) k=\(k) n=\(n) \(layout) \(dtype)")
                    }
                }
            }
        }
    }

    /// The few-row kernel set follows the CPU level the C kernels use: AVX-512 where present,
    /// AVX2 + FMA + F16C on the CPUs without it (Zen 3 and earlier), none below that.
    func testFewRowKernelSetFollowsCPULevel() {
        let name = cf_few_row_kernels_for_cpu().map { String(cString: $0.pointee.name) }
        switch Int(clipcap_cpu_level()) {
        case Int(CLIPCAP_CPU_AVX512): XCTAssertEqual(name, "avx512")
        case Int(CLIPCAP_CPU_AVX2): XCTAssertEqual(name, "avx2")
        default: XCTAssertNil(name)
        }
    }

    /// More than 16 rows with `io` weights: the panel kernel (f32, and f16 read in place) where
    /// the CPU has it — row tiles of 10 with every remainder, the 120-row block edge, K blocks of
    /// 256 with tails, column tails inside a 32-column panel, and products big enough to be split
    /// over the pool in column chunks.
    func testLinearPanelKernelManyRows() throws {
        var rng = SeededRandom(seed: 14)
        let cases: [(m: Int, k: Int, n: Int)] = [
            (17, 5, 3), (19, 64, 32), (23, 257, 33), (50, 768, 100), (50, 300, 2304 / 8), (121, 40, 65),
            (250, 130, 47), (31, 512, 1), (50, 1, 70), (64, 600, 96),
        ]
        var trial = 0
        for (m, k, n) in cases {
            for dtype in [DType.f32, .f16] {
                trial += 1
                let x = rng.floats(m * k, in: -2...2)
                let w = Harness.weight(rng.floats(k * n, in: -1...1), [k, n], dtype: dtype)
                let bias: Operand = trial % 2 == 0 ? .weight(Harness.weight(rng.floats(n), [n], name: "b")) : .absent
                let (fast, reference) = try both("linear", [.activation(x, [m, k]), .weight(w), bias],
                                                 attrs: ["w_layout": .string("io"), "activation": .string(trial % 3 == 0 ? "quick_gelu" : "none")],
                                                 outputShape: [m, n])
                assertClose(fast, reference, tolerance: 1e-5 * Float(k).squareRoot(), "linear m=\(m) k=\(k) n=\(n) \(dtype)")
            }
        }
    }

    /// An f16 weight at an odd address (a model file may place a tensor anywhere): not read in
    /// place but widened once, with the same result.
    func testLinearMisalignedHalfWeightIsWidened() throws {
        var rng = SeededRandom(seed: 15)
        let (m, k, n) = (20, 37, 45)
        let aligned = Harness.weight(rng.floats(k * n, in: -1...1), [k, n], dtype: .f16)
        let buffer = TestBuffer(byteCount: k * n * 2 + 1)
        buffer.raw.advanced(by: 1).copyMemory(from: aligned.bytes.baseAddress!, byteCount: k * n * 2)
        let odd = WeightTensor(name: "w", dtype: .f16, shape: Shape([k, n]),
                               bytes: UnsafeRawBufferPointer(start: buffer.raw.advanced(by: 1), count: k * n * 2), owner: buffer)
        let x = rng.floats(m * k, in: -2...2)
        let (fast, reference) = try both("linear", [.activation(x, [m, k]), .weight(odd)],
                                         attrs: ["w_layout": .string("io")], outputShape: [m, n])
        assertClose(fast, reference, tolerance: 1e-5 * Float(k).squareRoot(), "misaligned f16")
        let (inPlace, _) = try both("linear", [.activation(x, [m, k]), .weight(aligned)],
                                    attrs: ["w_layout": .string("io")], outputShape: [m, n])
        assertClose(fast, inPlace, tolerance: 1e-5 * Float(k).squareRoot(), "misaligned vs aligned f16")
    }

    func testMatmulBatchedAndTransposed() throws {
        var rng = SeededRandom(seed: 11)
        for (batch, m, k, n) in [(1, 1, 7, 9), (3, 5, 16, 11), (2, 12, 33, 1), (4, 1, 64, 50)] {
            for t in [0, 1] {
                let a = rng.floats(batch * m * k), b = rng.floats(batch * k * n)
                let (fast, reference) = try both("matmul", [.activation(a, [batch, m, k]),
                                                            .activation(b, t == 1 ? [batch, n, k] : [batch, k, n])],
                                                 attrs: ["transpose_b": .int(Int64(t))], outputShape: [batch, m, n])
                assertClose(fast, reference, tolerance: 1e-5 * Float(k).squareRoot(), "matmul \(batch)x\(m)x\(k)x\(n) t=\(t)")
            }
        }
    }

    func testUnaryOpsSmallAndLarge() throws {
        var rng = SeededRandom(seed: 12)
        // 13 elements (tails only), 1003, and 70001 (above the parallel threshold).
        for count in [13, 1003, 70_001] {
            let x = rng.floats(count, in: -12...12) + [0, -0.0, 1e-4, -1e-4, 40, -40, 90, -90]
            let shape = [x.count]
            for op in ["gelu_erf", "gelu_tanh", "quick_gelu", "tanh", "relu"] {
                let (fast, reference) = try both(op, [.activation(x, shape)], outputShape: shape)
                // Element-wise relative check: these approximations must hold across the range.
                for i in 0..<x.count {
                    let tolerance = 2e-6 * max(abs(reference[i]), 1e-3)
                    if abs(fast[i] - reference[i]) > tolerance {
                        XCTFail("\(op)(\(x[i])): blas \(fast[i]) vs naive \(reference[i])")
                        break
                    }
                }
            }
            let (fast, reference) = try both("scale", [.activation(x, shape)], attrs: ["value": .float(-0.125)], outputShape: shape)
            XCTAssertEqual(fast, reference)
        }
    }

    func testAddMulBroadcastCases() throws {
        var rng = SeededRandom(seed: 13)
        let cases: [([Int], [Int])] = [([5, 7], [5, 7]), ([3, 50, 37], [37]), ([3, 50, 37], [50, 37]), ([4, 9], [1]),
                                       ([2, 3, 5], [3, 1]), ([2, 3, 5], [1, 5]), ([300, 257], [257]), ([70_000], [70_000])]
        for (aShape, bShape) in cases {
            let a = rng.floats(Shape(aShape).elementCount), b = rng.floats(Shape(bShape).elementCount)
            for op in ["add", "mul"] {
                let (fast, reference) = try both(op, [.activation(a, aShape), .activation(b, bShape)], outputShape: aShape)
                XCTAssertEqual(fast, reference, "\(op) \(aShape) \(bShape)")
            }
        }
        // A constant f16 operand (e.g. a position table).
        let a = rng.floats(4 * 10)
        let table = Harness.weight(rng.floats(10), [10], dtype: .f16)
        let (fast, reference) = try both("add", [.activation(a, [4, 10]), .weight(table)], outputShape: [4, 10])
        XCTAssertEqual(fast, reference)
    }

    func testRowwiseOps() throws {
        var rng = SeededRandom(seed: 14)
        for (rows, d) in [(1, 1), (3, 7), (5, 768), (50, 768), (100, 1000), (2, 21)] {
            let x = rng.floats(rows * d, in: -5...5).map { $0 + 3 }    // offset mean: tests the centring
            let gamma = Harness.weight(rng.floats(d), [d], dtype: .f16, name: "g")
            let beta = Harness.weight(rng.floats(d), [d], name: "b")
            let (ln, lnRef) = try both("layer_norm", [.activation(x, [rows, d]), .weight(gamma), .weight(beta)],
                                       attrs: ["eps": .float(1e-5)], outputShape: [rows, d])
            assertClose(ln, lnRef, tolerance: 1e-5, "layer_norm \(rows)x\(d)")
            let (sm, smRef) = try both("softmax", [.activation(x, [rows, d])], outputShape: [rows, d])
            assertClose(sm, smRef, tolerance: 1e-6, "softmax \(rows)x\(d)")
            let (l2, l2Ref) = try both("l2_normalize", [.activation(x, [rows, d])], outputShape: [rows, d])
            assertClose(l2, l2Ref, tolerance: 1e-6, "l2 \(rows)x\(d)")
        }
    }

    func testGatherAllTableTypes() throws {
        var rng = SeededRandom(seed: 15)
        for dtype in [DType.f32, .f16, .bf16] {
            let table = Harness.weight(rng.floats(11 * 13), [11, 13], dtype: dtype)
            let ids: [Int32] = [10, 0, 3, 3, 7, 1]
            let (fast, reference) = try both("gather", [.weight(table), .ids(ids, [2, 3])], outputShape: [2, 3, 13])
            XCTAssertEqual(fast, reference, "gather \(dtype)")
        }
        let table = Harness.weight(rng.floats(4 * 2), [4, 2])
        assertKernelError({ _ = try Harness.run(self.blas, "gather", [.weight(table), .ids([4], [1])], outputShape: [1, 2]) }, "outside")
    }

    func testDataMovementOps() throws {
        var rng = SeededRandom(seed: 16)
        // permute: random permutations of ranks 1...5 with odd sizes.
        let dims = [3, 1, 4, 5, 2]
        for rank in 1...5 {
            let shape = Array(dims.prefix(rank))
            let x = rng.floats(Shape(shape).elementCount)
            for _ in 0..<4 {
                let perm = Array(0..<rank).shuffled(using: &rng)
                let outShape = perm.map { shape[$0] }
                let (fast, reference) = try both("permute", [.activation(x, shape)], attrs: ["perm": .ints(perm.map(Int64.init))], outputShape: outShape)
                XCTAssertEqual(fast, reference, "permute \(shape) \(perm)")
            }
        }
        let x = rng.floats(2 * 7 * 5)
        let context = Harness.makeContext(n_past: 2, symbols: ["T": 3])
        let sliceCases: [([String: AttrValue], [Int])] = [
            (["axis": .int(1), "start": .int(-1)], [2, 1, 5]),
            (["axis": .int(1), "start": .symbol("n_past"), "length": .symbol("T")], [2, 3, 5]),
            (["axis": .int(2), "start": .int(1), "end": .int(4)], [2, 7, 3]),
            (["axis": .int(0), "start": .int(1)], [1, 7, 5]),
            (["axis": .int(1), "start": .int(5), "end": .int(100)], [2, 2, 5]),
        ]
        for (attrs, outShape) in sliceCases {
            let (fast, reference) = try both("slice", [.activation(x, [2, 7, 5])], attrs: attrs, outputShape: outShape, context: context)
            XCTAssertEqual(fast, reference, "slice \(attrs)")
        }
        for axis in 0..<3 {
            var b = [2, 7, 5]
            b[axis] = 3
            var out = [2, 7, 5]
            out[axis] += 3 + 1
            var c = [2, 7, 5]
            c[axis] = 1
            let (fast, reference) = try both("concat", [.activation(x, [2, 7, 5]), .activation(rng.floats(Shape(b).elementCount), b),
                                                        .weight(Harness.weight(rng.floats(Shape(c).elementCount), c, dtype: .f16))],
                                             attrs: ["axis": .int(Int64(axis))], outputShape: out)
            XCTAssertEqual(fast, reference, "concat axis \(axis)")
        }
        let (fast, reference) = try both("expand", [.activation(rng.floats(9), [1, 3, 3]), .activation(rng.floats(4), [4, 1])], outputShape: [4, 3, 3])
        XCTAssertEqual(fast, reference)
        let (r1, r2) = try both("reshape", [.activation(x, [2, 7, 5])], attrs: ["shape": .ints([-1, 5])], outputShape: [14, 5])
        XCTAssertEqual(r1, r2)
    }

    func testAttentionRandomShapes() throws {
        var rng = SeededRandom(seed: 17)
        // (B, Tq, Tk, D, heads, causal); the last ones exceed the parallel threshold.
        let cases: [(Int, Int, Int, Int, Int, Int)] = [
            (1, 1, 1, 8, 1, 0), (2, 3, 3, 12, 3, 1), (1, 1, 9, 20, 2, 1), (3, 4, 7, 36, 4, 1), (2, 5, 3, 10, 5, 1),
            (1, 50, 50, 768, 12, 0), (5, 10, 10, 768, 12, 1), (5, 1, 77, 768, 12, 1),
            // Head widths the AVX-512 head kernel takes (16-128), key counts not multiples of 4,
            // and Tq > Tk causal (the first queries see no key).
            (1, 3, 5, 32, 1, 1), (2, 6, 6, 256, 2, 1), (1, 7, 13, 48, 3, 0), (1, 5, 2, 64, 1, 1), (1, 1, 1, 16, 1, 0),
        ]
        for (b, tq, tk, d, heads, causal) in cases {
            let q = rng.floats(b * tq * d, in: -2...2), k = rng.floats(b * tk * d, in: -2...2), v = rng.floats(b * tk * d)
            let (fast, reference) = try both("attention", [.activation(q, [b, tq, d]), .activation(k, [b, tk, d]), .activation(v, [b, tk, d])],
                                             attrs: ["heads": .int(Int64(heads)), "causal": .int(Int64(causal))], outputShape: [b, tq, d])
            assertClose(fast, reference, tolerance: 1e-5, "attention B=\(b) Tq=\(tq) Tk=\(tk) D=\(d) h=\(heads) causal=\(causal)")
        }
    }

    func testAttentionCachedMatchesFullAttention() throws {
        try AttentionCacheCheck.run(backend: blas, tolerance: 1e-5)
    }

    func testErrorsThrowInsteadOfCrashing() throws {
        let w = Harness.weight([Float](repeating: 1, count: 6), [3, 2])
        assertKernelError({
            _ = try Harness.run(self.blas, "linear", [.activation([1, 2, 3, 4], [1, 4]), .weight(w)], outputShape: [1, 2])
        }, "input features")
        assertKernelError({
            _ = try Harness.run(self.blas, "linear", [.activation([1, 2, 3], [1, 3]), .weight(w), .activation([1, 2, 3], [3])], outputShape: [1, 2])
        }, "bias")
        assertKernelError({
            _ = try Harness.run(self.blas, "matmul", [.activation([1, 2], [1, 1, 2]), .activation([1, 2], [2, 1, 1])], outputShape: [1, 1, 1])
        }, "batch")
        assertKernelError({
            _ = try Harness.run(self.blas, "layer_norm", [.activation([1, 2], [1, 2]), .activation([1], [1]), .activation([1], [1])], outputShape: [1, 2])
        }, "gamma")
        assertKernelError({
            _ = try Harness.run(self.blas, "concat", [.activation([1, 2], [1, 2]), .activation([1, 2, 3], [1, 3])], attrs: ["axis": .int(0)], outputShape: [2, 2])
        }, "differ")
        assertKernelError({
            _ = try Harness.run(self.blas, "slice", [.activation([1, 2], [2])], attrs: ["axis": .int(0), "start": .int(-3)], outputShape: [2])
        }, "outside")
        XCTAssertNil(try blas.makeKernel(for: Harness.request("linear_i8", [.activation([], [1, 2]), .weight(w)])),
                     "linear_i8 is left to the int8 backend / naive fallback")
    }

    func testBackendDescribesOpenBLAS() {
        XCTAssertTrue(blas.availability.available, blas.availability.reason)
        XCTAssertTrue(blas.summary.contains("OpenBLAS"), blas.summary)
        // The package is built for AVX2 (-target-cpu haswell), so OpenBLAS must not be left on
        // its SSE3 fallback kernels (it picks Prescott on CPUs it does not recognise).
        XCTAssertFalse(blas.availability.reason.contains(" Prescott "), blas.availability.reason)
        print("blas backend: \(blas.summary)")
        let blasOps = Set(blas.capabilities.map(\.op))
        let naiveOps = Set(naive.capabilities.map(\.op))
        XCTAssertEqual(naiveOps.subtracting(blasOps), ["linear_i8", "conv2d_i8"])
        XCTAssertEqual(naiveOps.count, 25)
    }
}
