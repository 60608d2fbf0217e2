import BLASBackend
import CCMFormat
import Engine
import Foundation
import Int8Backend
import XCTest

/// Kernel throughput, int8 vs BLAS fp32 (not a test: prints figures, asserts nothing about time).
/// Run: `CLIPCAP_BENCH=1 swift test --scratch-path .build-int8 -c release --filter Int8Benchmarks`
final class Int8Benchmarks: XCTestCase {
    struct Case { var label: String; var m: Int; var k: Int; var n: Int }

    override func setUpWithError() throws {
        guard ProcessInfo.processInfo.environment["CLIPCAP_BENCH"] == "1" else { throw XCTSkip("set CLIPCAP_BENCH=1 to run benchmarks") }
    }

    /// Best-of-`repeats` seconds of `body`.
    func best(_ repeats: Int, _ body: () throws -> Void) rethrows -> Double {
        try body()
        var bestTime = Double.infinity
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            bestTime = min(bestTime, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return bestTime
    }

    /// A prepared layer: an int8 kernel and a BLAS fp32 kernel over the same (random) weight.
    struct Layer {
        var int8: any Kernel
        var blas: any Kernel
        var m: Int, k: Int, n: Int
    }

    func makeLayer(m: Int, k: Int, n: Int, scheme: String, seed: UInt64) throws -> Layer {
        var rng = SeededRandom(seed: seed)
        let q = (0..<(n * k)).map { _ in rng.int8() }
        let groups = scheme == "block" ? (k + 31) / 32 : 1
        let scales = TestWeights.floats("s", [Float](repeating: 0.01, count: n * groups), shape: scheme == "block" ? [n, groups] : [n])
        let request = linearI8Request(w: TestWeights.int8("w", q, shape: [n, k]), scales: scales, bias: nil,
                                      scheme: scheme, block: 32, activation: "none")
        let fast = try XCTUnwrap(try Int8Backend().makeKernel(for: request))
        let wf = TestWeights.floats("wf", q.map { Float($0) * 0.01 }, shape: [k, n])   // io, as GPT-2 Conv1D is stored
        let node = GraphNode(name: "fc", op: "linear", inputs: ["x", "wf"], outputs: ["y"], attrs: ["w_layout": .string("io")])
        let blasRequest = KernelRequest(node: node, inputTypes: [.f32, .f32], constants: [nil, wf])
        let blas = try XCTUnwrap(try BLASBackend().makeKernel(for: blasRequest))
        return Layer(int8: fast, blas: blas, m: m, k: k, n: n)
    }

    func run(_ kernel: any Kernel, _ layer: Layer, x: inout [Float], y: inout [Float], context: ExecutionContext) throws {
        try x.withUnsafeMutableBytes { xb in
            try y.withUnsafeMutableBytes { yb in
                try kernel.run(inputs: [TensorView(data: xb.baseAddress!, shape: Shape([layer.m, layer.k]), dtype: .f32)],
                               outputs: [TensorView(data: yb.baseAddress!, shape: Shape([layer.m, layer.n]), dtype: .f32)], context: context)
            }
        }
    }

    func testKernelThroughput() throws {
        let blasBackend = BLASBackend()
        for threads in [1, 2] {
            blasBackend.setThreads(threads)
            let context = ExecutionContext(pool: threads == 1 ? TestPools.one : TestPools.two)
            print("threads=\(threads)")
            print("shape (M x K -> N)          scheme       int8 ms  GB/s  GOP/s | fp32 ms  GB/s  GFLOP/s | speed-up")
            let cases = [Case(label: "gpt2 qkv", m: 1, k: 768, n: 2304), Case(label: "gpt2 fc", m: 1, k: 768, n: 3072),
                         Case(label: "gpt2 proj", m: 1, k: 3072, n: 768), Case(label: "lm head", m: 1, k: 768, n: 21128),
                         Case(label: "vit qkv", m: 50, k: 768, n: 2304), Case(label: "vit fc", m: 50, k: 768, n: 3072),
                         Case(label: "vit proj", m: 50, k: 3072, n: 768)]
            for c in cases {
                for scheme in ["per_channel", "block"] {
                    let layer = try makeLayer(m: c.m, k: c.k, n: c.n, scheme: scheme, seed: 1)
                    var rng = SeededRandom(seed: 2)
                    var x = (0..<(c.m * c.k)).map { _ in rng.normal(1) }
                    var y = [Float](repeating: 0, count: c.m * c.n)
                    let repeats = c.m == 1 ? 200 : 30
                    let ti = try best(repeats) { try run(layer.int8, layer, x: &x, y: &y, context: context) }
                    let tf = try best(repeats) { try run(layer.blas, layer, x: &x, y: &y, context: context) }
                    let ops = 2.0 * Double(c.m * c.n * c.k)
                    let bytesI8 = Double(c.n * c.k) * (scheme == "block" ? 1.125 : 1)
                    let bytesF = Double(c.n * c.k * 4)
                    print(String(format: "%-10@ %2d x %4d -> %5d  %-11@ %7.3f %5.1f %6.1f | %7.3f %5.1f %7.1f | %5.2fx",
                                 c.label, c.m, c.k, c.n, scheme, ti * 1e3, bytesI8 / ti / 1e9, ops / ti / 1e9,
                                 tf * 1e3, bytesF / tf / 1e9, ops / tf / 1e9, tf / ti))
                }
            }
        }
    }

    /// One GPT-2 decode step's products (12 layers x qkv, proj, fc, proj + LM head, V = 21128):
    /// 101 M weights, every layer its own memory, so weights stream from DRAM as in real decoding.
    func testDecodeStepWeightStreaming() throws {
        let blasBackend = BLASBackend()
        let shapes = Array(repeating: [(768, 2304), (768, 768), (768, 3072), (3072, 768)], count: 12).flatMap { $0 } + [(768, 21128)]
        for scheme in ["per_channel", "block"] {
            let layers = try shapes.enumerated().map { try makeLayer(m: 1, k: $1.0, n: $1.1, scheme: scheme, seed: UInt64($0)) }
            let weights = shapes.reduce(0) { $0 + $1.0 * $1.1 }
            for threads in [1, 2] {
                blasBackend.setThreads(threads)
                let context = ExecutionContext(pool: threads == 1 ? TestPools.one : TestPools.two)
                var x = [Float](repeating: 0.5, count: 3072)
                var y = [Float](repeating: 0, count: 21128)
                func step(_ useInt8: Bool) throws {
                    for l in layers { try run(useInt8 ? l.int8 : l.blas, l, x: &x, y: &y, context: context) }
                }
                let ti = try best(10) { try step(true) }
                let tf = try best(5) { try step(false) }
                print(String(format: "decode step %@ threads=%d: int8 %.2f ms (%.1f GB/s of int8 weights), fp32 %.2f ms (%.1f GB/s), %.2fx",
                             scheme, threads, ti * 1e3, Double(weights) / ti / 1e9, tf * 1e3, Double(weights * 4) / tf / 1e9, tf / ti))
            }
        }
    }
}
