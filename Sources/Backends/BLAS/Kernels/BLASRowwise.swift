import CCMFormat
import CVectorKernels
import Engine
import KernelSupport

/// `layer_norm`, `l2_normalize`, `softmax` per row of the last dimension on `CVectorKernels`
/// (vectorised for the CPU at run time), rows spread over the pool for large tensors.
/// Statistics accumulate in `Float` over the vector lanes.
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
                let first = range.lowerBound * d
                cvk_layer_norm_rows(src + first, g, bt, eps, out + first, Int64(range.count), Int64(d))
            }
        case .l2Normalize:
            Parallelism.rows(rows, elementsPerRow: d, context.pool) { range in
                let first = range.lowerBound * d
                cvk_l2_normalize_rows(src + first, out + first, Int64(range.count), Int64(d))
            }
        case .softmax:
            Parallelism.rows(rows, elementsPerRow: d, context.pool) { range in
                let first = range.lowerBound * d
                cvk_softmax_rows(src + first, out + first, Int64(range.count), Int64(d))
            }
        }
    }
}
