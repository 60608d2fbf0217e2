import BLASBackend
import CCMFormat
import Engine
import Foundation
import NaiveBackend
import XCTest

/// Prints GFLOP/s of `linear` at the model's shapes, naive vs blas. Skipped unless
/// `CLIPCAP_BENCH=1`; run it in release:
/// `CLIPCAP_BENCH=1 swift test -c release --filter testPrintKernelThroughput`.
/// Prints figures only; never asserts a time.
final class KernelThroughputBenchmark: XCTestCase {
    struct Case {
        var label: String
        var m: Int
        var k: Int
        var n: Int
        var layout: String
    }

    static let cases: [Case] = [
        Case(label: "ViT mlp.fc1", m: 50, k: 768, n: 3072, layout: "io"),
        Case(label: "ViT attn.out", m: 50, k: 768, n: 768, layout: "io"),
        Case(label: "GPT-2 c_attn decode", m: 1, k: 768, n: 2304, layout: "io"),
        Case(label: "GPT-2 c_fc decode", m: 1, k: 768, n: 3072, layout: "io"),
        Case(label: "GPT-2 c_proj decode", m: 1, k: 768, n: 768, layout: "io"),
        Case(label: "GPT-2 lm_head decode", m: 1, k: 768, n: 21128, layout: "oi"),
        Case(label: "GPT-2 c_attn beams", m: 5, k: 768, n: 2304, layout: "io"),
        Case(label: "GPT-2 c_fc beams", m: 5, k: 768, n: 3072, layout: "io"),
        Case(label: "GPT-2 c_proj beams", m: 5, k: 768, n: 768, layout: "io"),
        Case(label: "GPT-2 lm_head beams", m: 5, k: 768, n: 21128, layout: "oi"),
    ]

    func testPrintKernelThroughput() throws {
        guard ProcessInfo.processInfo.environment["CLIPCAP_BENCH"] == "1" else {
            throw XCTSkip("set CLIPCAP_BENCH=1 (and build with -c release) to print kernel throughput")
        }
        let blas = BLASBackend()
        let naive = NaiveBackend()
        let context = Harness.makeContext()
        var rng = SeededRandom(seed: 99)
        print("linear throughput (GFLOP/s, best of N; 2·M·K·N flops; bias, no activation)")
        print("case                     M     K      N layout   naive  blas-1t  blas-2t  best/naive")
        for c in Self.cases {
            let w = Harness.weight(rng.floats(c.k * c.n, in: -0.05...0.05), c.layout == "io" ? [c.k, c.n] : [c.n, c.k])
            let b = Harness.weight(rng.floats(c.n), [c.n], name: "b")
            let x = TestBuffer(floats: rng.floats(c.m * c.k))
            let out = TestBuffer(byteCount: c.m * c.n * 4)
            let request = Harness.request("linear", [.activation([], [c.m, c.k]), .weight(w), .weight(b)],
                                          attrs: ["w_layout": .string(c.layout)])
            let inputs = [TensorView(data: x.raw, shape: Shape(c.m, c.k), dtype: .f32), w.view, b.view]
            let outputs = [TensorView(data: out.raw, shape: Shape(c.m, c.n), dtype: .f32)]
            let flops = 2.0 * Double(c.m * c.k * c.n)
            func gflops(_ backend: any Backend, budget: Double) throws -> Double {
                guard let kernel = try backend.makeKernel(for: request) else { return .nan }
                try kernel.run(inputs: inputs, outputs: outputs, context: context)   // warm-up
                var best = Double.infinity
                let start = Date()
                repeat {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    try kernel.run(inputs: inputs, outputs: outputs, context: context)
                    best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                } while Date().timeIntervalSince(start) < budget
                return flops / best / 1e9
            }
            let naiveRate = try gflops(naive, budget: 0.3)
            blas.setThreads(1)
            let oneThread = try gflops(blas, budget: 0.5)
            blas.setThreads(2)
            let twoThreads = try gflops(blas, budget: 0.5)
            let name = c.label.padding(toLength: 22, withPad: " ", startingAt: 0)
            print(name + String(format: " %3d %5d %6d %-6@ %7.2f %8.1f %8.1f %8.0fx", c.m, c.k, c.n,
                                c.layout as NSString, naiveRate, oneThread, twoThreads, max(oneThread, twoThreads) / naiveRate))
        }
    }
}
