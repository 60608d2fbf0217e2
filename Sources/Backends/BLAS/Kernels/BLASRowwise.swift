import CCMFormat
import Engine
import NaiveBackend

/// `layer_norm`, `l2_normalize`, `softmax` per row of the last dimension, vectorised, rows
/// spread over the pool for large tensors. Statistics accumulate in `Float` over 16 lanes.
struct BLASRowwise: Kernel {
    enum Function: Sendable {
        case layerNorm(eps: Float)
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
            function = .layerNorm(eps: Float(eps))
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
        guard d > 0 else { return }
        let src = x.pointer
        switch function {
        case .layerNorm(let eps):
            let gamma = try operands.input(1, inputs), beta = try operands.input(2, inputs)
            guard gamma.count == d, beta.count == d else {
                throw label.error("gamma \(gamma.shape) and beta \(beta.shape) must both have \(d) elements")
            }
            let g = gamma.pointer, bt = beta.pointer
            Parallelism.rows(rows, elementsPerRow: d, context.pool) { range in
                for r in range {
                    let row = src + r * d, o = out + r * d
                    let mean = RowOps.sum(row, d) / Float(d)
                    let variance = RowOps.sumOfSquares(row, d, centeredOn: mean) / Float(d)
                    let inv = F8(repeating: 1 / (variance + eps).squareRoot())
                    let mv = F8(repeating: mean)
                    var i = 0
                    while i + 8 <= d {
                        let normalized = (RowOps.load(row + i) - mv) * inv
                        RowOps.store(RowOps.load(bt + i).addingProduct(normalized, RowOps.load(g + i)), o + i)
                        i += 8
                    }
                    while i < d {
                        o[i] = (row[i] - mean) * inv[0] * g[i] + bt[i]
                        i += 1
                    }
                }
            }
        case .l2Normalize:
            Parallelism.rows(rows, elementsPerRow: d, context.pool) { range in
                for r in range {
                    let row = src + r * d
                    let norm = F8(repeating: RowOps.sumOfSquares(row, d, centeredOn: 0).squareRoot())
                    RowOps.map(row, out + r * d, d) { $0 / norm }
                }
            }
        case .softmax:
            Parallelism.rows(rows, elementsPerRow: d, context.pool) { range in
                for r in range {
                    let row = src + r * d, o = out + r * d
                    let m = F8(repeating: RowOps.max(row, d))
                    RowOps.map(row, o, d) { VectorMath.exp($0 - m) }
                    let inv = F8(repeating: 1 / RowOps.sum(UnsafePointer(o), d))
                    RowOps.map(UnsafePointer(o), o, d) { $0 * inv }
                }
            }
        }
    }
}
