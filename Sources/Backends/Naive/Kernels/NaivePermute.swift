import CCMFormat
import Engine
import KernelSupport

/// `permute`: `out.shape[i] = x.shape[perm[i]]`, rank up to 8; each output element reads the
/// input element at the permuted coordinates.
struct NaivePermute: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    let spec: PermuteSpec

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(1, atMost: 1)
        label = NodeLabel(request.node)
        spec = try PermuteSpec(request, label)
        guard let operands = FloatOperands(request) else { return nil }
        self.operands = operands
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let x = try operands.input(0, inputs)
        let outShape = try spec.outputShape(for: x.shape, label)
        let out = try operands.output(outputs, expected: outShape)
        let inStrides = ShapeChecks.strides(x.shape)
        for i in 0..<x.count {
            var rest = i
            var source = 0
            var axis = outShape.rank - 1
            while axis >= 0 {
                let coordinate = rest % outShape[axis]
                rest /= outShape[axis]
                source += coordinate * inStrides[spec.perm[axis]]
                axis -= 1
            }
            out[i] = x.pointer[source]
        }
    }
}
