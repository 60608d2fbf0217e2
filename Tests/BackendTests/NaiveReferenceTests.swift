import CCMFormat
import Engine
import Foundation
import NaiveBackend
import XCTest

/// The naive kernels against hand-computed tiny cases and known formulas. Tolerance 1e-6
/// (relative to magnitude) unless stated: these kernels accumulate in Double.
final class NaiveReferenceTests: XCTestCase {
    let naive = NaiveBackend()

    func testLinearBothLayoutsBiasAndRelu() throws {
        // x [2, 3]; W io [3, 2]; b [2].
        let x: [Float] = [1, 2, 3, -1, 0, 1]
        let wIO: [Float] = [1, 0, 0, 1, 1, -1]      // columns: (1,0,1) and (0,1,-1)
        let b: [Float] = [0.5, -10]
        let expected: [Float] = [1 + 3 + 0.5, 2 - 3 - 10, -1 + 1 + 0.5, 0 - 1 - 10]
        let io = try Harness.run(naive, "linear", [.activation(x, [2, 3]), .weight(Harness.weight(wIO, [3, 2])),
                                                   .weight(Harness.weight(b, [2], name: "b"))], outputShape: [2, 2])
        assertClose(io, expected, tolerance: 1e-6)
        let wOI: [Float] = [1, 0, 1, 0, 1, -1]      // [2, 3] = transpose of wIO
        let oi = try Harness.run(naive, "linear", [.activation(x, [2, 3]), .weight(Harness.weight(wOI, [2, 3])),
                                                   .weight(Harness.weight(b, [2], name: "b"))],
                                 attrs: ["w_layout": .string("oi"), "activation": .string("relu")], outputShape: [2, 2])
        assertClose(oi, expected.map { max($0, 0) }, tolerance: 1e-6)
        // f16 weights are widened exactly (these values are representable).
        let half = try Harness.run(naive, "linear", [.activation(x, [2, 3]), .weight(Harness.weight(wIO, [3, 2], dtype: .f16)), .absent],
                                   outputShape: [2, 2])
        assertClose(half, [4, -1, 0, -1], tolerance: 1e-6)
    }

    func testLinearI8PerChannelAndBlock() throws {
        // w [2, 4] int8; per-channel scales [2].
        let q: [Int8] = [1, -2, 3, 127, -128, 0, 5, 2]
        let x: [Float] = [0.5, 1, -1, 2]
        let (w, s) = Harness.int8Weight(q, [2, 4], scales: [0.1, 0.01], scalesShape: [2], scheme: "per_channel")
        let out = try Harness.run(naive, "linear_i8", [.activation(x, [1, 4]), .weight(w), .weight(s)],
                                  attrs: ["scheme": .string("per_channel")], outputShape: [1, 2])
        let row0 = (0.5 * 1 - 2 - 3 + 254) * 0.1
        let row1 = (0.5 * -128 + 0 - 5 + 4) * 0.01
        assertClose(out, [Float(row0), Float(row1)], tolerance: 1e-6)
        // Block scheme, block 3: scales [2, 2] (K = 4 -> blocks of 3 and 1).
        let (wb, sb) = Harness.int8Weight(q, [2, 4], scales: [0.1, 1, 0.5, 2], scalesShape: [2, 2], scheme: "block", block: 3)
        let outB = try Harness.run(naive, "linear_i8", [.activation(x, [1, 4]), .weight(wb), .weight(sb),
                                                        .weight(Harness.weight([1, 2], [2], name: "b"))],
                                   attrs: ["scheme": .string("block"), "block": .int(3)], outputShape: [1, 2])
        let b0 = (0.5 * 1 - 2 - 3) * 0.1 + 254 * 1 + 1
        let b1 = (0.5 * -128 + 0 - 5) * 0.5 + 4 * 2 + 2
        assertClose(outB, [Float(b0), Float(b1)], tolerance: 1e-6)
        // The reference agrees with WeightTensor's own dequantization.
        let deq = wb.floatValues()
        XCTAssertEqual(deq[3], 127, accuracy: 1e-6)    // column 3 is in block 1 (scale 1)
        XCTAssertEqual(deq[4], -64, accuracy: 1e-6)    // row 1, block 0 (scale 0.5)
    }

    func testMatmulPlainAndTransposed() throws {
        let a: [Float] = [1, 2, 3, 4]                  // [1, 2, 2]
        let b: [Float] = [5, 6, 7, 8]                  // [1, 2, 2]
        let plain = try Harness.run(naive, "matmul", [.activation(a, [1, 2, 2]), .activation(b, [1, 2, 2])], outputShape: [1, 2, 2])
        assertClose(plain, [19, 22, 43, 50], tolerance: 1e-6)
        let t = try Harness.run(naive, "matmul", [.activation(a, [1, 2, 2]), .activation(b, [1, 2, 2])],
                                attrs: ["transpose_b": .int(1)], outputShape: [1, 2, 2])
        assertClose(t, [17, 23, 39, 53], tolerance: 1e-6)
    }

    func testAddMulBroadcasting() throws {
        let a: [Float] = [1, 2, 3, 4, 5, 6]            // [2, 3]
        let row = try Harness.run(naive, "add", [.activation(a, [2, 3]), .activation([10, 20, 30], [3])], outputShape: [2, 3])
        XCTAssertEqual(row, [11, 22, 33, 14, 25, 36])
        let column = try Harness.run(naive, "mul", [.activation(a, [2, 3]), .activation([2, -1], [2, 1])], outputShape: [2, 3])
        XCTAssertEqual(column, [2, 4, 6, -4, -5, -6])
        let scalar = try Harness.run(naive, "add", [.activation(a, [2, 3]), .weight(Harness.weight([1], [1], dtype: .bf16))], outputShape: [2, 3])
        XCTAssertEqual(scalar, [2, 3, 4, 5, 6, 7])
        assertKernelError({
            _ = try Harness.run(self.naive, "add", [.activation(a, [2, 3]), .activation([1, 2], [2])], outputShape: [2, 3])
        }, "broadcast")
    }

    func testActivationsAtKnownValues() throws {
        let x: [Float] = [-3, -1, 0, 0.5, 1, 2]
        func run(_ op: String) throws -> [Float] { try Harness.run(naive, op, [.activation(x, [6])], outputShape: [6]) }
        // Values from PyTorch in float64, rounded to 7 decimals (F.gelu, F.gelu(approximate="tanh"), x*sigmoid(1.702x)).
        assertClose(try run("gelu_erf"), [-0.0040497, -0.1586553, 0, 0.3457312, 0.8413447, 1.9544997], tolerance: 2e-7)
        assertClose(try run("gelu_tanh"), [-0.0036374, -0.1588080, 0, 0.3457140, 0.8411920, 1.9545977], tolerance: 2e-7)
        assertClose(try run("quick_gelu"), [-0.0180713, -0.1542042, 0, 0.3503884, 0.8457958, 1.9356586], tolerance: 2e-7)
        assertClose(try run("tanh"), x.map { Foundation.tanh($0) }, tolerance: 1e-7)
        XCTAssertEqual(try run("relu"), [0, 0, 0, 0.5, 1, 2])
        let scaled = try Harness.run(naive, "scale", [.activation(x, [6])], attrs: ["value": .float(0.5)], outputShape: [6])
        XCTAssertEqual(scaled, x.map { $0 * 0.5 })
    }

    func testLayerNormSoftmaxL2() throws {
        var rng = SeededRandom(seed: 1)
        let x = rng.floats(3 * 10, in: -4...4)
        let ones = Harness.weight([Float](repeating: 1, count: 10), [10], name: "g")
        let zeros = Harness.weight([Float](repeating: 0, count: 10), [10], name: "b")
        let ln = try Harness.run(naive, "layer_norm", [.activation(x, [3, 10]), .weight(ones), .weight(zeros)],
                                 attrs: ["eps": .float(0)], outputShape: [3, 10])
        for r in 0..<3 {
            let row = ln[(r * 10)..<(r * 10 + 10)].map { Double($0) }
            let mean = row.reduce(0, +) / 10
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 10
            XCTAssertEqual(mean, 0, accuracy: 1e-6)
            XCTAssertEqual(variance, 1, accuracy: 1e-5)
        }
        // gamma/beta applied after normalising: [1, 3] -> [-1, 1] * [2, 3] + [1, 1].
        let gb = try Harness.run(naive, "layer_norm", [.activation([1, 3], [1, 2]), .weight(Harness.weight([2, 3], [2])),
                                                       .weight(Harness.weight([1, 1], [2], name: "b"))],
                                 attrs: ["eps": .float(0)], outputShape: [1, 2])
        assertClose(gb, [-1, 4], tolerance: 1e-6)

        let sm = try Harness.run(naive, "softmax", [.activation(x, [3, 10])], outputShape: [3, 10])
        for r in 0..<3 { XCTAssertEqual(sm[(r * 10)..<(r * 10 + 10)].reduce(0, +), 1, accuracy: 1e-6) }
        assertClose(try Harness.run(naive, "softmax", [.activation([1000, 1000], [2])], outputShape: [2]), [0.5, 0.5], tolerance: 1e-7)

        let l2 = try Harness.run(naive, "l2_normalize", [.activation([3, 4, 0, 5], [2, 2])], outputShape: [2, 2])
        assertClose(l2, [0.6, 0.8, 0, 1], tolerance: 1e-7)
    }

    func testReshapePermuteSliceConcatExpand() throws {
        let x = (0..<24).map(Float.init)
        let reshaped = try Harness.run(naive, "reshape", [.activation(x, [2, 3, 4])], attrs: ["shape": .ints([0, -1])], outputShape: [2, 12])
        XCTAssertEqual(reshaped, x)
        assertKernelError({
            _ = try Harness.run(self.naive, "reshape", [.activation(x, [2, 3, 4])], attrs: ["shape": .ints([5, -1])], outputShape: [5, 5])
        })

        // permute [2, 3, 4] -> [4, 2, 3]: out[i][j][k] = x[j][k][i].
        let p = try Harness.run(naive, "permute", [.activation(x, [2, 3, 4])], attrs: ["perm": .ints([2, 0, 1])], outputShape: [4, 2, 3])
        for i in 0..<4 { for j in 0..<2 { for k in 0..<3 { XCTAssertEqual(p[(i * 2 + j) * 3 + k], x[(j * 3 + k) * 4 + i]) } } }

        // slice axis 1 with a negative start and with a symbolic start + length.
        let last = try Harness.run(naive, "slice", [.activation(x, [2, 3, 4])], attrs: ["axis": .int(1), "start": .int(-1)], outputShape: [2, 1, 4])
        XCTAssertEqual(last, [8, 9, 10, 11, 20, 21, 22, 23])
        let context = Harness.makeContext(n_past: 1, symbols: ["T": 2])
        let window = try Harness.run(naive, "slice", [.activation(x, [6, 4])],
                                     attrs: ["axis": .int(0), "start": .symbol("n_past"), "length": .symbol("T")],
                                     outputShape: [2, 4], context: context)
        XCTAssertEqual(window, (4..<12).map(Float.init))
        let ended = try Harness.run(naive, "slice", [.activation(x, [2, 12])], attrs: ["axis": .int(1), "start": .int(2), "end": .int(-8)], outputShape: [2, 2])
        XCTAssertEqual(ended, [2, 3, 14, 15])
        assertKernelError({
            _ = try Harness.run(self.naive, "slice", [.activation(x, [24])], attrs: ["axis": .int(0), "start": .symbol("n_past")],
                                outputShape: [24], context: Harness.makeContext())
        }, "n_past")

        // concat on axis 1: [2, 1] + [2, 2] -> [2, 3].
        let c = try Harness.run(naive, "concat", [.activation([1, 2], [2, 1]), .activation([3, 4, 5, 6], [2, 2])],
                                attrs: ["axis": .int(1)], outputShape: [2, 3])
        XCTAssertEqual(c, [1, 3, 4, 2, 5, 6])

        let e = try Harness.run(naive, "expand", [.weight(Harness.weight([7, 8], [1, 2], dtype: .f16)), .ids([0, 0, 0], [3, 1])], outputShape: [3, 2])
        XCTAssertEqual(e, [7, 8, 7, 8, 7, 8])
    }

    func testGatherAndBadIds() throws {
        let table = Harness.weight([0, 1, 10, 11, 20, 21], [3, 2], dtype: .bf16)
        let out = try Harness.run(naive, "gather", [.weight(table), .ids([2, 0, 1], [1, 3])], outputShape: [1, 3, 2])
        XCTAssertEqual(out, [20, 21, 0, 1, 10, 11])
        assertKernelError({
            _ = try Harness.run(self.naive, "gather", [.weight(table), .ids([3], [1])], outputShape: [1, 2])
        }, "outside")
        assertKernelError({
            _ = try Harness.run(self.naive, "gather", [.weight(table), .ids([-1], [1])], outputShape: [1, 2])
        }, "outside")
    }

    func testCausalAttentionWithOneKeyReturnsValue() throws {
        // Tq = Tk = 3, causal: query 0 sees only key 0, so its output is v[0] for every head.
        var rng = SeededRandom(seed: 2)
        let q = rng.floats(3 * 8), k = rng.floats(3 * 8), v = rng.floats(3 * 8)
        let out = try Harness.run(naive, "attention", [.activation(q, [1, 3, 8]), .activation(k, [1, 3, 8]), .activation(v, [1, 3, 8])],
                                  attrs: ["heads": .int(2), "causal": .int(1)], outputShape: [1, 3, 8])
        assertClose(Array(out[0..<8]), Array(v[0..<8]), tolerance: 1e-6)
        // Identical keys: uniform weights, the output is the mean of the visible values.
        let same = [Float](repeating: 0.3, count: 24)
        let mean = try Harness.run(naive, "attention", [.activation(q, [1, 3, 8]), .activation(same, [1, 3, 8]), .activation(v, [1, 3, 8])],
                                   attrs: ["heads": .int(4)], outputShape: [1, 3, 8])
        for i in 0..<3 {
            for c in 0..<8 { XCTAssertEqual(mean[i * 8 + c], (v[c] + v[8 + c] + v[16 + c]) / 3, accuracy: 1e-6) }
        }
    }

    func testAttentionMatchesExplicitFormula() throws {
        // One head, no mask: softmax(q kᵀ · scale) v computed directly.
        var rng = SeededRandom(seed: 3)
        let q = rng.floats(2 * 4), k = rng.floats(3 * 4), v = rng.floats(3 * 4)
        let out = try Harness.run(naive, "attention", [.activation(q, [1, 2, 4]), .activation(k, [1, 3, 4]), .activation(v, [1, 3, 4])],
                                  attrs: ["heads": .int(1), "scale": .float(0.7)], outputShape: [1, 2, 4])
        for i in 0..<2 {
            let s = (0..<3).map { j in (0..<4).map { Double(q[i * 4 + $0]) * Double(k[j * 4 + $0]) }.reduce(0, +) * 0.7 }
            let e = s.map { Foundation.exp($0) }
            let p = e.map { $0 / e.reduce(0, +) }
            for c in 0..<4 {
                let expected = (0..<3).map { p[$0] * Double(v[$0 * 4 + c]) }.reduce(0, +)
                XCTAssertEqual(Double(out[i * 4 + c]), expected, accuracy: 1e-6)
            }
        }
    }

    func testAttentionCachedTwoCallsEqualsFullAttention() throws {
        try AttentionCacheCheck.run(backend: naive, tolerance: 1e-6)
    }

    func testErrorsNameTheNodeInsteadOfCrashing() throws {
        let w = Harness.weight([Float](repeating: 1, count: 6), [3, 2])
        // x has K = 4 but the weight expects 3.
        assertKernelError({
            _ = try Harness.run(self.naive, "linear", [.activation([1, 2, 3, 4], [1, 4]), .weight(w)], outputShape: [1, 2])
        }, "input features")
        // Wrong output view.
        assertKernelError({
            _ = try Harness.run(self.naive, "linear", [.activation([1, 2, 3], [1, 3]), .weight(w)], outputShape: [1, 3])
        }, "output")
        // Bad attributes fail at kernel creation.
        assertKernelError({
            _ = try self.naive.makeKernel(for: Harness.request("linear", [.activation([], [0, 3]), .weight(w)], attrs: ["w_layout": .string("xy")]))
        }, "w_layout")
        assertKernelError({
            _ = try self.naive.makeKernel(for: Harness.request("linear", [.activation([], [0, 3]), .weight(w)], attrs: ["activation": .string("swish")]))
        }, "activation")
        assertKernelError({
            _ = try self.naive.makeKernel(for: Harness.request("permute", [.activation([], [0])], attrs: ["perm": .ints([0, 0])]))
        }, "perm")
        assertKernelError({
            _ = try Harness.run(self.naive, "matmul", [.activation([1, 2], [1, 2]), .activation([1, 2, 3], [3, 1])], outputShape: [1, 1])
        }, "K=")
        assertKernelError({
            _ = try Harness.run(self.naive, "attention", [.activation([1, 2, 3], [1, 1, 3]), .activation([1, 2, 3], [1, 1, 3]),
                                                           .activation([1, 2, 3], [1, 1, 3])], attrs: ["heads": .int(2)], outputShape: [1, 1, 3])
        }, "divisible")
        // Unsupported element types are declined (nil), not crashes.
        XCTAssertNil(try naive.makeKernel(for: Harness.request("linear", [.ids([1], [1]), .weight(w)])))
    }
}

/// attention_cached run twice (prefill T=3, then T=2) must equal causal attention over the
/// concatenated 5 positions, and the caches must hold k, v at rows [0, 5). Overflow throws.
enum AttentionCacheCheck {
    static func run(backend: any Backend, tolerance: Float, file: StaticString = #filePath, line: UInt = #line) throws {
        var rng = SeededRandom(seed: 4)
        let batch = 2, d = 12, heads = 3, capacity = 6
        let q = rng.floats(batch * 5 * d), k = rng.floats(batch * 5 * d), v = rng.floats(batch * 5 * d)
        func rows(_ x: [Float], _ range: Range<Int>) -> [Float] {
            (0..<batch).flatMap { b in x[(b * 5 + range.lowerBound) * d..<(b * 5 + range.upperBound) * d] }
        }
        let kCache = TestBuffer(floats: [Float](repeating: 0, count: batch * capacity * d))
        let vCache = TestBuffer(floats: [Float](repeating: 0, count: batch * capacity * d))
        let request = Harness.request("attention_cached", [.activation([], []), .activation([], []), .activation([], []),
                                                           .state(kCache, []), .state(vCache, [])],
                                      attrs: ["heads": .int(Int64(heads))])
        guard let kernel = try backend.makeKernel(for: request) else { XCTFail("no attention_cached", file: file, line: line); return }
        var outputs: [Float] = []
        var parts: [[Float]] = []
        for (nPast, range) in [(0, 0..<3), (3, 3..<5)] {
            let t = range.count
            let out = try Harness.run(kernel, [.activation(rows(q, range), [batch, t, d]), .activation(rows(k, range), [batch, t, d]),
                                               .activation(rows(v, range), [batch, t, d]),
                                               .state(kCache, [batch, capacity, d]), .state(vCache, [batch, capacity, d])],
                                      outputShape: [batch, t, d], context: Harness.makeContext(n_past: nPast))
            parts.append(out)
        }
        // Reassemble [B, 5, D] from the two calls' [B, 3, D] and [B, 2, D].
        for b in 0..<batch {
            outputs += parts[0][(b * 3 * d)..<((b + 1) * 3 * d)]
            outputs += parts[1][(b * 2 * d)..<((b + 1) * 2 * d)]
        }
        let full = try Harness.run(NaiveBackend(), "attention", [.activation(q, [batch, 5, d]), .activation(k, [batch, 5, d]), .activation(v, [batch, 5, d])],
                                   attrs: ["heads": .int(Int64(heads)), "causal": .int(1)], outputShape: [batch, 5, d])
        assertClose(outputs, full, tolerance: tolerance, "cached vs full attention", file: file, line: line)
        let cached = kCache.floats
        for b in 0..<batch {
            assertClose(Array(cached[(b * capacity * d)..<((b * capacity + 5) * d)]), Array(k[(b * 5 * d)..<((b + 1) * 5 * d)]),
                        tolerance: 0, "k cache rows", file: file, line: line)
        }
        // A third call of T = 2 at n_past = 5 overflows capacity 6.
        assertKernelError({
            _ = try Harness.run(kernel, [.activation(rows(q, 0..<2), [batch, 2, d]), .activation(rows(k, 0..<2), [batch, 2, d]),
                                         .activation(rows(v, 0..<2), [batch, 2, d]),
                                         .state(kCache, [batch, capacity, d]), .state(vCache, [batch, capacity, d])],
                                outputShape: [batch, 2, d], context: Harness.makeContext(n_past: 5))
        }, "overflow", file: file, line: line)
    }
}
