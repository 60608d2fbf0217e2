import CCMFormat
import Foundation
import XCTest
@testable import ModelConverter

/// The error batch-norm folding adds (docs/CONVERT.md): `bn(conv(x))` computed in `Double` from
/// the stored values against the folded convolution with `f32` weights and bias evaluated in
/// `Float`, on statistics far from identity (small and large variances, gains up to 3).
final class BatchNormFoldingTests: XCTestCase {
    private func tensor(_ name: String, _ values: [Float], _ shape: [Int]) -> InputTensor {
        let bytes = ElementConversion.encodeF32(values)
        return InputTensor(name: name, dtype: .f32, shape: shape) { bytes }
    }

    func testFoldedConvolutionMatchesConvolutionThenBatchNorm() throws {
        var state: UInt64 = 2026
        func random(_ range: ClosedRange<Float>) -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return range.lowerBound + Float(state >> 40) / Float(1 << 24) * (range.upperBound - range.lowerBound)
        }
        let out = 16, inputs = 8, k = 3, side = 6
        let weights = (0..<(out * inputs * k * k)).map { _ in random(-0.3...0.3) }
        let gamma = (0..<out).map { _ in random(0.2...3) }, beta = (0..<out).map { _ in random(-1...1) }
        let mean = (0..<out).map { _ in random(-2...2) }
        let variance = (0..<out).map { i in i % 4 == 0 ? random(1e-4...1e-3) : random(0.1...20) }
        let norm = BatchNormFolding.Norm(gamma: tensor("g", gamma, [out]), beta: tensor("b", beta, [out]),
                                         mean: tensor("m", mean, [out]), variance: tensor("v", variance, [out]))
        let folded = BatchNormFolding.fold(conv: tensor("w", weights, [out, inputs, k, k]), norm: norm)
        let foldedWeights = ElementConversion.decodeF32(try folded.weight.load())
        let foldedBias = ElementConversion.decodeF32(try folded.bias.load())
        XCTAssertEqual(foldedWeights.count, weights.count)
        XCTAssertEqual(foldedBias.count, out)

        let x = (0..<(inputs * side * side)).map { _ in random(-2...2) }
        var worst = 0.0, largest = 0.0
        for o in 0..<out {
            for y in 0..<(side - k + 1) {
                for xx in 0..<(side - k + 1) {
                    var exact = 0.0
                    var fast: Float = 0
                    for c in 0..<inputs {
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let wi = ((o * inputs + c) * k + ky) * k + kx
                                let xi = (c * side + y + ky) * side + xx + kx
                                exact += Double(weights[wi]) * Double(x[xi])
                                fast += foldedWeights[wi] * x[xi]
                            }
                        }
                    }
                    let normed = (exact - Double(mean[o])) / (Double(variance[o]) + BatchNormFolding.eps).squareRoot()
                        * Double(gamma[o]) + Double(beta[o])
                    worst = max(worst, abs(Double(fast + foldedBias[o]) - normed))
                    largest = max(largest, abs(normed))
                }
            }
        }
        // Float accumulation over 72 products of values up to ~3 · 0.3 · 2 / sqrt(1e-4): a
        // relative error of a few 1e-7 of the output range.
        XCTAssertLessThan(worst / largest, 2e-6, "folding error \(worst) of \(largest)")
    }

    func testNegativeVarianceIsAnErrorNamingTheTensor() {
        let norm = BatchNormFolding.Norm(gamma: tensor("g", [1], [1]), beta: tensor("b", [0], [1]),
                                         mean: tensor("m", [0], [1]), variance: tensor("visual.bn1.running_var", [-1], [1]))
        let folded = BatchNormFolding.fold(conv: tensor("w", [1], [1, 1, 1, 1]), norm: norm)
        XCTAssertThrowsError(try folded.weight.load()) { error in
            XCTAssertTrue("\(error)".contains("visual.bn1.running_var"), "\(error)")
        }
    }
}
