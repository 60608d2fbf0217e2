import BLASBackend
import CCMFormat
import Engine
import Foundation
import Int8Backend
import NaiveBackend
import XCTest

/// `conv2d` and `avg_pool2d`: the naive reference at hand-computed values, and the BLAS
/// (im2col + sgemm) and int8 backends against it at the geometries CLIP's ResNets use (3x3
/// stride 2 pad 1 stem, 3x3 pad 1, 1x1) and a few others (non-square kernel, stride 3, 7x7).
final class SpatialKernelTests: XCTestCase {
    let naive = NaiveBackend()
    let blas = BLASBackend()
    let int8 = Int8Backend()

    func testConvolutionAtKnownValues() throws {
        // x: one 3x3 channel 1...9; a 2x2 kernel of ones, stride 1, padding 0 -> window sums.
        let x: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        let w = Harness.weight([1, 1, 1, 1], [1, 1, 2, 2])
        let sums = try Harness.run(naive, "conv2d", [.activation(x, [1, 1, 3, 3]), .weight(w), .absent], outputShape: [1, 1, 2, 2])
        XCTAssertEqual(sums, [12, 16, 24, 28])
        // Padding 1, stride 2, a bias of -20 and relu: windows centred on (0,0), (0,2), (2,0), (2,2).
        let b = Harness.weight([-20], [1], name: "b")
        let padded = try Harness.run(naive, "conv2d", [.activation(x, [1, 1, 3, 3]), .weight(w), .weight(b)],
                                     attrs: ["stride": .int(2), "padding": .int(1), "activation": .string("relu")],
                                     outputShape: [1, 1, 2, 2])
        // Windows: {1}, {2,3}, {4,7}, {5,6,8,9}: only the last sum (28) is above 20.
        XCTAssertEqual(padded, [0, 0, 0, 8])
    }

    func testAveragePoolAtKnownValues() throws {
        let x: [Float] = (1...16).map(Float.init)
        let pooled = try Harness.run(naive, "avg_pool2d", [.activation(x, [1, 1, 4, 4])], attrs: ["kernel": .int(2)],
                                     outputShape: [1, 1, 2, 2])
        XCTAssertEqual(pooled, [3.5, 5.5, 11.5, 13.5])
        // An odd size drops the last partial window, as nn.AvgPool2d does.
        let odd = try Harness.run(naive, "avg_pool2d", [.activation(Array(x.prefix(9)), [1, 1, 3, 3])], attrs: ["kernel": .int(2)],
                                  outputShape: [1, 1, 1, 1])
        XCTAssertEqual(odd, [3])
    }

    func testFastBackendsMatchTheReference() throws {
        var rng = SeededRandom(seed: 22)
        // (batch, channels, height, width, out, kh, kw, stride, padding)
        let cases: [(Int, Int, Int, Int, Int, Int, Int, Int, Int)] = [
            (1, 3, 17, 17, 5, 3, 3, 2, 1), (1, 4, 9, 9, 6, 3, 3, 1, 1), (2, 8, 5, 7, 16, 1, 1, 1, 0),
            (1, 3, 11, 8, 4, 3, 2, 3, 1), (1, 2, 12, 12, 3, 7, 7, 2, 3), (1, 5, 1, 1, 7, 1, 1, 1, 0),
        ]
        for (i, c) in cases.enumerated() {
            let (batch, channels, h, w, out, kh, kw, stride, padding) = c
            let x = rng.floats(batch * channels * h * w, in: -2...2)
            let dtype: DType = i % 2 == 0 ? .f32 : .f16
            let weight = Harness.weight(rng.floats(out * channels * kh * kw), [out, channels, kh, kw], dtype: dtype)
            let bias: Operand = i % 3 == 2 ? .absent : .weight(Harness.weight(rng.floats(out), [out], name: "b"))
            let attrs: [String: AttrValue] = ["stride": .int(Int64(stride)), "padding": .int(Int64(padding)),
                                              "activation": .string(i % 2 == 0 ? "relu" : "none")]
            let oh = (h + 2 * padding - kh) / stride + 1, ow = (w + 2 * padding - kw) / stride + 1
            let operands: [Operand] = [.activation(x, [batch, channels, h, w]), .weight(weight), bias]
            let reference = try Harness.run(naive, "conv2d", operands, attrs: attrs, outputShape: [batch, out, oh, ow])
            for backend in [blas] as [any Backend] {
                let fast = try Harness.run(backend, "conv2d", operands, attrs: attrs, outputShape: [batch, out, oh, ow])
                assertClose(fast, reference, tolerance: 1e-5 * Float(channels * kh * kw).squareRoot(), "\(backend.name) conv2d case \(i)")
            }
        }
        let x = rng.floats(2 * 3 * 9 * 9)
        for kernel in [1, 2, 3, 9] {
            let o = (9 - kernel) / kernel + 1
            let reference = try Harness.run(naive, "avg_pool2d", [.activation(x, [2, 3, 9, 9])], attrs: ["kernel": .int(Int64(kernel))], outputShape: [2, 3, o, o])
            let fast = try Harness.run(blas, "avg_pool2d", [.activation(x, [2, 3, 9, 9])], attrs: ["kernel": .int(Int64(kernel))], outputShape: [2, 3, o, o])
            assertClose(fast, reference, tolerance: 1e-6, "avg_pool2d kernel \(kernel)")
        }
    }

    /// `conv2d_i8`: the int8 kernel (activations quantized per output pixel) against the naive
    /// reference (weights dequantized, activations not quantized), both schemes, bias and relu.
    func testQuantizedConvolutionMatchesTheReference() throws {
        var rng = SeededRandom(seed: 23)
        let cases: [(Int, Int, Int, Int, Int, Int)] = [(3, 17, 8, 3, 2, 1), (8, 9, 16, 3, 1, 1), (16, 6, 12, 1, 1, 0)]
        for (i, (channels, side, out, k, stride, padding)) in cases.enumerated() {
            let cols = channels * k * k
            let values = (0..<(out * cols)).map { _ in Int8.random(in: -127...127, using: &rng) }
            let block = i == 1 ? 32 : 0
            let blocks = block > 0 ? (cols + block - 1) / block : 1
            let scales = rng.floats(out * blocks, in: 0.001...0.01)
            let (w, s) = Harness.int8Weight(values, [out, cols], scales: scales, scalesShape: block > 0 ? [out, blocks] : [out],
                                            scheme: block > 0 ? "block" : "per_channel", block: block)
            var attrs: [String: AttrValue] = ["stride": .int(Int64(stride)), "padding": .int(Int64(padding)), "kernel": .ints([Int64(k), Int64(k)]),
                                              "scheme": .string(block > 0 ? "block" : "per_channel"), "activation": .string(i == 2 ? "none" : "relu")]
            if block > 0 { attrs["block"] = .int(Int64(block)) }
            let o = (side + 2 * padding - k) / stride + 1
            let x = rng.floats(channels * side * side, in: -2...2)
            let operands: [Operand] = [.activation(x, [1, channels, side, side]), .weight(w), .weight(s),
                                       .weight(Harness.weight(rng.floats(out), [out], name: "b"))]
            let reference = try Harness.run(naive, "conv2d_i8", operands, attrs: attrs, outputShape: [1, out, o, o])
            let fast = try Harness.run(int8, "conv2d_i8", operands, attrs: attrs, outputShape: [1, out, o, o])
            // Activation quantization (one scale per pixel row, 8 bits): ~1% of the output range.
            let range = reference.map(abs).max() ?? 1
            assertClose(fast, reference, tolerance: 0.02 * max(range, 1), "conv2d_i8 case \(i)")
        }
    }

    /// Wrong channels, a kernel larger than the padded input, bad attributes: errors naming the node, no trap.
    func testBadShapesAndAttributesAreErrors() throws {
        let w = Harness.weight([Float](repeating: 1, count: 2 * 3 * 3 * 3), [2, 3, 3, 3])
        for backend in [naive, blas] as [any Backend] {
            XCTAssertThrowsError(try Harness.run(backend, "conv2d", [.activation([Float](repeating: 0, count: 4 * 25), [1, 4, 5, 5]), .weight(w), .absent],
                                                 outputShape: [1, 2, 3, 3]), backend.name) { error in
                XCTAssertTrue("\(error)".contains("channels"), "\(error)")
            }
            XCTAssertThrowsError(try Harness.run(backend, "conv2d", [.activation([Float](repeating: 0, count: 3 * 4), [1, 3, 2, 2]), .weight(w), .absent],
                                                 outputShape: [1, 2, 1, 1]), backend.name)
            XCTAssertThrowsError(try Harness.run(backend, "conv2d", [.activation([Float](repeating: 0, count: 3 * 25), [1, 3, 5, 5]), .weight(w), .absent],
                                                 attrs: ["stride": .int(0)], outputShape: [1, 2, 3, 3]), backend.name)
            XCTAssertThrowsError(try Harness.run(backend, "avg_pool2d", [.activation([Float](repeating: 0, count: 4), [1, 1, 2, 2])],
                                                 attrs: ["kernel": .int(3)], outputShape: [1, 1, 1, 1]), backend.name)
            XCTAssertThrowsError(try Harness.run(backend, "avg_pool2d", [.activation([Float](repeating: 0, count: 4), [1, 1, 2, 2])],
                                                 outputShape: [1, 1, 1, 1]), backend.name)
        }
    }
}
