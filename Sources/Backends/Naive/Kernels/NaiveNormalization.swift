import CCMFormat
import Foundation
import Engine
import KernelSupport

/// `layer_norm`, `l2_normalize`, `softmax`: per row of the last dimension, statistics in `Double`.
struct NaiveRowwise: Kernel {
    enum Function: Sendable {
        case layerNorm(eps: Double)
        case l2Normalize
        case softmax
    }

    let label: NodeLabel
    let operands: FloatOperands
    let function: Function

    init?(_ request: KernelRequest) throws {
        label = NodeLabel(request.node)
        switch request.node.op {
        case "layer_norm":
            try request.requireInputs(3, atMost: 3)
            let eps = try request.optionalFloat("eps") ?? 1e-5
            guard eps >= 0 else { throw label.error("eps must be >= 0, got \(eps)") }
            function = .layerNorm(eps: eps)
        case "l2_normalize":
            try request.requireInputs(1, atMost: 1)
            function = .l2Normalize
        case "softmax":
            try request.requireInputs(1, atMost: 1)
            function = .softmax
        default:
            return nil
        }
        guard let operands = FloatOperands(request) else { return nil }
        self.operands = operands
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let x = try operands.input(0, inputs)
        guard x.shape.rank >= 1 else { throw label.error("x must have rank >= 1, got \(x.shape)") }
        let out = try operands.output(outputs, expected: x.shape)
        let d = x.shape.last
        let rows = ShapeChecks.leadingCount(x.shape)
        switch function {
        case .layerNorm(let eps):
            let gamma = try operands.input(1, inputs), beta = try operands.input(2, inputs)
            guard gamma.count == d, beta.count == d else {
                throw label.error("gamma \(gamma.shape) and beta \(beta.shape) must both have \(d) elements")
            }
            for r in 0..<rows {
                let row = x.pointer + r * d
                var mean: Double = 0
                for i in 0..<d { mean += Double(row[i]) }
                mean /= Double(d)
                var variance: Double = 0
                for i in 0..<d { variance += (Double(row[i]) - mean) * (Double(row[i]) - mean) }
                variance /= Double(d)
                let inv = 1 / (variance + eps).squareRoot()
                for i in 0..<d {
                    out[r * d + i] = Float((Double(row[i]) - mean) * inv * Double(gamma.pointer[i]) + Double(beta.pointer[i]))
                }
            }
        case .l2Normalize:
            for r in 0..<rows {
                let row = x.pointer + r * d
                var sum: Double = 0
                for i in 0..<d { sum += Double(row[i]) * Double(row[i]) }
                let norm = sum.squareRoot()
                for i in 0..<d { out[r * d + i] = Float(Double(row[i]) / norm) }
            }
        case .softmax:
            for r in 0..<rows {
                let row = x.pointer + r * d
                var m = -Double.infinity
                for i in 0..<d { m = max(m, Double(row[i])) }
                var sum: Double = 0
                for i in 0..<d { sum += Foundation.exp(Double(row[i]) - m) }
                for i in 0..<d { out[r * d + i] = Float(Foundation.exp(Double(row[i]) - m) / sum) }
            }
        }
    }
}
