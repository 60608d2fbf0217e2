import CCMFormat
import Engine

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

/// Sizes of one `matmul` call, shared by every backend.
public struct MatmulGeometry {
    public let batches: Int
    public let m: Int
    public let k: Int
    public let n: Int
    public let outputShape: Shape

    public init(a: Shape, b: Shape, transposeB: Bool, _ label: NodeLabel) throws {
        guard a.rank >= 2, b.rank == a.rank else {
            throw label.error("a \(a) and b \(b) must have equal rank >= 2")
        }
        var batches = 1
        for i in 0..<(a.rank - 2) {
            guard a[i] == b[i] else { throw label.error("batch dimensions of a \(a) and b \(b) differ") }
            batches *= a[i]
        }
        let m = a[a.rank - 2], k = a[a.rank - 1]
        let bk = transposeB ? b[b.rank - 1] : b[b.rank - 2]
        let n = transposeB ? b[b.rank - 2] : b[b.rank - 1]
        guard bk == k else {
            throw label.error("a \(a) has K=\(k) but b \(b) has K=\(bk)\(transposeB ? " (transpose_b)" : "")")
        }
        var out = a
        out[out.rank - 1] = n
        self.batches = batches
        self.m = m
        self.k = k
        self.n = n
        outputShape = out
    }
}
