import CCMFormat
import Engine
import KernelSupport

/// `matmul`: `a [..., M, K] · b [..., K, N]` (or `b [..., N, K]` with `transpose_b`), batch
/// dimensions equal; one `Double` accumulator per output element.
struct NaiveMatmul: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    let transposeB: Bool

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(2, atMost: 2)
        label = NodeLabel(request.node)
        let t = try request.int("transpose_b", default: 0)
        guard t == 0 || t == 1 else { throw label.error("transpose_b must be 0 or 1, got \(t)") }
        transposeB = t == 1
        guard let operands = FloatOperands(request) else { return nil }
        self.operands = operands
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let a = try operands.input(0, inputs), b = try operands.input(1, inputs)
        let g = try MatmulGeometry(a: a.shape, b: b.shape, transposeB: transposeB, label)
        let out = try operands.output(outputs, expected: g.outputShape)
        for batch in 0..<g.batches {
            let pa = a.pointer + batch * g.m * g.k
            let pb = b.pointer + batch * g.k * g.n
            let pc = out + batch * g.m * g.n
            for i in 0..<g.m {
                for j in 0..<g.n {
                    var acc: Double = 0
                    for p in 0..<g.k {
                        let bv = transposeB ? pb[j * g.k + p] : pb[p * g.n + j]
                        acc += Double(pa[i * g.k + p]) * Double(bv)
                    }
                    pc[i * g.n + j] = Float(acc)
                }
            }
        }
    }
}
