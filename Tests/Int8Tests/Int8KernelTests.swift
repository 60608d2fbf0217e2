import CCMFormat
import ClipCap
import CInt8Kernels
import Engine
import Int8Backend
import ModelConverter
import NaiveBackend
import XCTest

/// The `linear_i8` kernels (AVX2 and, where the CPU has it, AVX-512 VNNI) against the naive
/// reference (dequantized weights, float x).
final class Int8KernelTests: XCTestCase {
    /// Both micro-kernel paths; `.vnni` quietly runs AVX2 on CPUs without VNNI.
    let paths: [Int8KernelPath] = [.avx2, .vnni]

    /// Random shapes, both schemes, every activation: each output must lie within the bound the
    /// activation quantization allows: |Δy| <= (sx / 2) · Σ_k |dequant(w)[n, k]| (per_channel x row
    /// scale sx; per block for the block scheme), plus float rounding.
    func testLinearI8MatchesNaiveWithinQuantizationBound() throws {
        var rng = SeededRandom(seed: 7)
        let shapes: [(m: Int, k: Int, n: Int)] = [(1, 32, 8), (2, 45, 7), (5, 96, 13), (50, 100, 9), (1, 768, 37),
                                                  (50, 64, 64), (2, 31, 3), (5, 200, 1), (1, 1, 5),
                                                  (7, 130, 10), (3, 64, 4), (4, 1, 4), (6, 257, 6)]
        let schemes: [(String, Int)] = [("per_channel", 0), ("block", 32), ("block", 64)]
        let activations = ["none", "gelu_tanh", "gelu_erf", "quick_gelu", "tanh", "relu"]
        var caseIndex = 0
        for (m, k, n) in shapes {
            for (scheme, block) in schemes {
                let activation = activations[caseIndex % activations.count]
                caseIndex += 1
                let wf = (0..<(n * k)).map { _ in rng.normal(0.05) }
                let qs = QuantizationScheme(name: scheme == "block" ? "block\(block)" : "per_channel")!
                let (q, scales) = WeightQuantization.quantize(wf, rows: n, cols: k, scheme: qs)
                let deq = WeightQuantization.dequantize(q, scales: scales, rows: n, cols: k, scheme: qs)
                let w = TestWeights.int8("w", q, shape: [n, k])
                let groups = block > 0 ? (k + block - 1) / block : 1
                let s = TestWeights.floats("s", scales, shape: block > 0 ? [n, groups] : [n])
                let bias = caseIndex % 2 == 0 ? TestWeights.floats("b", (0..<n).map { _ in rng.uniform(-0.5, 0.5) }, shape: [n]) : nil
                let x = (0..<(m * k)).map { _ in rng.normal(1.0) }
                let request = linearI8Request(w: w, scales: s, bias: bias, scheme: scheme, block: block, activation: activation)
                let naive = try XCTUnwrap(try NaiveBackend().makeKernel(for: request))
                let want = try runKernel(naive, x: x, xShape: [m, k], outShape: [m, n])
                for path in paths {
                let fast = try XCTUnwrap(try Int8Backend(kernelPath: path).makeKernel(for: request))
                let got = try runKernel(fast, x: x, xShape: [m, k], outShape: [m, n])
                for r in 0..<m {
                    let group = block > 0 ? block : k
                    for j in 0..<n {
                        var bound: Float = 0, magnitude: Float = 0
                        var g0 = 0
                        while g0 < k {
                            let g1 = min(k, g0 + group)
                            let amax = (g0..<g1).map { abs(x[r * k + $0]) }.max() ?? 0
                            let sx = amax / 127
                            for c in g0..<g1 {
                                bound += sx / 2 * abs(deq[j * k + c])
                                magnitude += abs(x[r * k + c] * deq[j * k + c])
                            }
                            g0 = g1
                        }
                        // Activations are 1-Lipschitz except gelu (<= 1.13) and quick_gelu (<= 1.1).
                        let tolerance = 1.2 * bound + 1e-5 * magnitude + 1e-6
                        let (a, b) = (got[r * n + j], want[r * n + j])
                        XCTAssertLessThanOrEqual(abs(a - b), tolerance,
                                                 "\(path) m=\(m) k=\(k) n=\(n) \(scheme)\(block) \(activation) row \(r) col \(j): \(a) vs \(b)")
                    }
                }
                }
            }
        }
    }

    /// With integer activations whose row maximum is 127 the activation scale is exactly 1 and
    /// quantization is lossless, so the kernel must equal the exact int64 dot product × scale.
    func testIntegerActivationsGiveExactProducts() throws {
        var rng = SeededRandom(seed: 11)
        for (m, k, n) in [(1, 1000, 9), (2, 333, 6), (5, 64, 4), (50, 77, 5)] {
            let q = (0..<(n * k)).map { _ in rng.int8() }
            var xi = (0..<(m * k)).map { _ in Int(rng.int8()) }
            for r in 0..<m { xi[r * k] = 127 }   // row max |x| = 127 -> scale 1
            let wScales = (0..<n).map { Float(1 + $0 % 3) }
            let request = linearI8Request(w: TestWeights.int8("w", q, shape: [n, k]), scales: TestWeights.floats("s", wScales, shape: [n]),
                                          bias: nil, scheme: "per_channel", block: 0, activation: "none")
            for path in paths {
                let kernel = try XCTUnwrap(try Int8Backend(kernelPath: path).makeKernel(for: request))
                let got = try runKernel(kernel, x: xi.map(Float.init), xShape: [m, k], outShape: [m, n])
                for r in 0..<m {
                    for j in 0..<n {
                        var exact: Int64 = 0
                        for c in 0..<k { exact += Int64(xi[r * k + c]) * Int64(q[j * k + c]) }
                        XCTAssertEqual(got[r * n + j], Float(exact) * wScales[j], "\(path) m=\(m) k=\(k) row \(r) col \(j)")
                    }
                }
            }
        }
    }

    /// The saturation worst case: ±127 everywhere, K large. vpmaddubsw would saturate on u8 255
    /// inputs; with the sign trick every pair sum is <= 32258, so the int32 result is exact.
    func testSaturationWorstCaseIsExact() {
        for k in [32, 1000, 4099, 100_000] {
            for pattern in 0..<4 {
                let a: [Int8] = (0..<k).map { i in pattern == 1 ? -127 : (pattern == 3 && i % 2 == 1 ? -127 : 127) }
                let b: [Int8] = (0..<k).map { i in pattern == 2 ? -127 : (pattern == 3 && i % 3 == 0 ? -127 : 127) }
                var exact: Int64 = 0
                for i in 0..<k { exact += Int64(a[i]) * Int64(b[i]) }
                let got = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in ci8_dot(pa.baseAddress, pb.baseAddress, Int64(k)) } }
                XCTAssertEqual(Int64(got), exact, "k=\(k) pattern \(pattern)")
                // VNNI: u8 up to 255 times s8, four products per int32 lane; exact below K = 66,000.
                if ci8_cpu_has_avx512_vnni() != 0, k < 66_000 {
                    let v = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in ci8_dot_vnni(pa.baseAddress, pb.baseAddress, Int64(k)) } }
                    XCTAssertEqual(Int64(v), exact, "vnni k=\(k) pattern \(pattern)")
                }
            }
        }
    }

    /// The same worst case through the full linear kernel (1x4 and 2x4 tiles, remainder rows):
    /// x = +127.0 everywhere (scale exactly 1), w = ±127, scale 1; 16129 · K is exact in Float for K = 1000.
    func testSaturationWorstCaseThroughLinear() throws {
        let k = 1000, n = 6
        for m in [1, 2, 5, 9] {
            let q: [Int8] = (0..<(n * k)).map { i in (i / k) % 2 == 0 ? 127 : -127 }
            let request = linearI8Request(w: TestWeights.int8("w", q, shape: [n, k]), scales: TestWeights.floats("s", [Float](repeating: 1, count: n), shape: [n]),
                                          bias: nil, scheme: "per_channel", block: 0, activation: "none")
            for path in paths {
                let kernel = try XCTUnwrap(try Int8Backend(kernelPath: path).makeKernel(for: request))
                let got = try runKernel(kernel, x: [Float](repeating: 127, count: m * k), xShape: [m, k], outShape: [m, n])
                for r in 0..<m {
                    for j in 0..<n { XCTAssertEqual(got[r * n + j], Float(j % 2 == 0 ? 16129 * k : -16129 * k), "\(path) m=\(m) row \(r) col \(j)") }
                }
            }
        }
    }

    /// Per-row (and per-block) activation quantization: q in [-127, 127], scale = max|x| / 127,
    /// |x - q · scale| <= scale / 2 (+ float rounding).
    func testActivationQuantizationErrorBound() {
        var rng = SeededRandom(seed: 3)
        for (m, k, group) in [(3, 100, 100), (4, 768, 768), (2, 77, 32), (1, 5, 5)] {
            var x = (0..<(m * k)).map { _ in rng.normal(2) }
            x[0] = 0
            var q = [Int8](repeating: 0, count: m * k)
            let groups = (k + group - 1) / group
            var scales = [Float](repeating: 0, count: m * groups)
            ci8_quantize_rows(x, Int64(m), Int64(k), Int64(group), &q, &scales)
            for r in 0..<m {
                for c in 0..<k {
                    let g = c / group
                    let start = g * group
                    let amax = (start..<min(k, start + group)).map { abs(x[r * k + $0]) }.max()!
                    let s = scales[r * groups + g]
                    XCTAssertEqual(s, amax / 127, accuracy: amax * 1e-7)
                    XCTAssertGreaterThanOrEqual(q[r * k + c], -127)
                    XCTAssertLessThanOrEqual(abs(x[r * k + c] - Float(q[r * k + c]) * s), s / 2 * (1 + 1e-5) + 1e-7, "m=\(m) k=\(k) r=\(r) c=\(c)")
                }
            }
        }
        // An all-zero row has scale 0 and zero codes.
        var q = [Int8](repeating: 1, count: 40)
        var s: [Float] = [1]
        ci8_quantize_rows([Float](repeating: 0, count: 40), 1, 40, 40, &q, &s)
        XCTAssertEqual(s[0], 0)
        XCTAssertTrue(q.allSatisfy { $0 == 0 })
    }

    /// Weight quantization: |w - dequant(q(w))| <= scale / 2 per element, codes in [-127, 127],
    /// for both schemes and a row length that is not a multiple of the block.
    func testWeightQuantizeDequantizeErrorBound() {
        var rng = SeededRandom(seed: 5)
        let rows = 7, cols = 77
        var w = (0..<(rows * cols)).map { _ in rng.normal(0.1) }
        w[3] = 0.9            // an outlier widens its row's (or block's) scale only
        for i in 0..<cols { w[2 * cols + i] = 0 }   // an all-zero row
        for scheme in [QuantizationScheme.perChannel, .block(size: 32)] {
            let (q, scales) = WeightQuantization.quantize(w, rows: rows, cols: cols, scheme: scheme)
            let back = WeightQuantization.dequantize(q, scales: scales, rows: rows, cols: cols, scheme: scheme)
            XCTAssertTrue(q.allSatisfy { $0 >= -127 }, "\(scheme): -128 must never appear")
            let groups = scheme.blockSize > 0 ? (cols + 31) / 32 : 1
            XCTAssertEqual(scales.count, rows * groups)
            for r in 0..<rows {
                for c in 0..<cols {
                    let s = scheme.blockSize > 0 ? scales[r * groups + c / 32] : scales[r]
                    XCTAssertLessThanOrEqual(abs(w[r * cols + c] - back[r * cols + c]), s / 2 * (1 + 1e-5) + 1e-9, "\(scheme) r=\(r) c=\(c)")
                }
            }
            XCTAssertTrue((0..<cols).allSatisfy { back[2 * cols + $0] == 0 })
        }
        // The outlier costs per_channel more than block: measured, not assumed.
        let pc = WeightQuantization.quantize(w, rows: rows, cols: cols, scheme: .perChannel)
        let bl = WeightQuantization.quantize(w, rows: rows, cols: cols, scheme: .block(size: 32))
        let ePC = WeightQuantization.errorStats(original: w, reconstructed: WeightQuantization.dequantize(pc.q, scales: pc.scales, rows: rows, cols: cols, scheme: .perChannel))
        let eBL = WeightQuantization.errorStats(original: w, reconstructed: WeightQuantization.dequantize(bl.q, scales: bl.scales, rows: rows, cols: cols, scheme: .block(size: 32)))
        XCTAssertLessThan(eBL.relativeRMS, ePC.relativeRMS)
    }

    /// The int8 gather dequantizes rows of an int8 table (--quantize-embeddings).
    func testInt8GatherDequantizesRows() throws {
        let q: [Int8] = [1, -2, 3, 127, -127, 0]
        let scales: [Float] = [0.5, 0.25]
        let s = TestWeights.floats("t.scales", scales, shape: [2])
        let buffer = TestBuffer(q.map { UInt8(bitPattern: $0) })
        let table = WeightTensor(name: "t", dtype: .i8, shape: Shape([2, 3]), bytes: UnsafeRawBufferPointer(buffer.bytes),
                                 quantization: QuantizationInfo(scheme: "per_channel", scalesTensor: "t.scales", axis: 0), scales: s, owner: buffer)
        let node = GraphNode(name: "emb", op: "gather", inputs: ["t", "ids"], outputs: ["e"])
        let request = KernelRequest(node: node, inputTypes: [.i8, .i32], constants: [table, nil])
        let kernel = try XCTUnwrap(try Int8Backend().makeKernel(for: request))
        var ids: [Int32] = [1, 0, 1]
        var out = [Float](repeating: 0, count: 9)
        try ids.withUnsafeMutableBytes { ib in
            try out.withUnsafeMutableBytes { ob in
                try kernel.run(inputs: [table.view, TensorView(data: ib.baseAddress!, shape: Shape([3]), dtype: .i32)],
                               outputs: [TensorView(data: ob.baseAddress!, shape: Shape([3, 3]), dtype: .f32)],
                               context: ExecutionContext(pool: TestPools.one))
            }
        }
        XCTAssertEqual(out, [31.75, -31.75, 0, 0.5, -1, 1.5, 31.75, -31.75, 0])
        ids[0] = 2
        XCTAssertThrowsError(try ids.withUnsafeMutableBytes { ib in
            try out.withUnsafeMutableBytes { ob in
                try kernel.run(inputs: [table.view, TensorView(data: ib.baseAddress!, shape: Shape([3]), dtype: .i32)],
                               outputs: [TensorView(data: ob.baseAddress!, shape: Shape([3, 3]), dtype: .f32)],
                               context: ExecutionContext(pool: TestPools.one))
            }
        })
    }

    /// Float ops are the chain's (int8 runs none of them, blas runs them); malformed linear_i8 nodes throw.
    func testFloatOpsGoDownTheChainAndMalformedNodesThrow() throws {
        ClipCap.registerStandardBackends()
        let backend = try XCTUnwrap(BackendRegistry.shared.backend(named: "int8"))
        XCTAssertTrue(backend.availability.available)
        let w = TestWeights.floats("w", [1, 2, 3, 4], shape: [2, 2])
        let linear = KernelRequest(node: GraphNode(name: "l", op: "linear", inputs: ["x", "w"], outputs: ["y"]),
                                   inputTypes: [.f32, .f32], constants: [nil, w])
        XCTAssertNil(try backend.makeKernel(for: linear))
        let chain = BackendChain.resolve(from: backend, registry: BackendRegistry.shared)
        XCTAssertEqual(chain.names, ["int8", "blas", "naive"])
        XCTAssertEqual(try chain.makeKernel(for: linear)?.position, 1)
        let q = TestWeights.int8("q", [1, 2, 3, 4], shape: [2, 2])
        let badScales = TestWeights.floats("s", [1, 1, 1], shape: [3])
        XCTAssertThrowsError(try backend.makeKernel(for: linearI8Request(w: q, scales: badScales, bias: nil, scheme: "per_channel", block: 0, activation: "none")))
        let okScales = TestWeights.floats("s", [1, 1], shape: [2])
        XCTAssertThrowsError(try backend.makeKernel(for: linearI8Request(w: q, scales: okScales, bias: nil, scheme: "per_channel", block: 0, activation: "swish")))
        let kernel = try XCTUnwrap(try backend.makeKernel(for: linearI8Request(w: q, scales: okScales, bias: nil, scheme: "per_channel", block: 0, activation: "none")))
        XCTAssertThrowsError(try runKernel(kernel, x: [1, 2, 3], xShape: [1, 3], outShape: [1, 2]))
    }
}
