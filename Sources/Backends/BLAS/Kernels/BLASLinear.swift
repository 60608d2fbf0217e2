import CCMFormat
import CVectorKernels
import Engine
import KernelSupport

/// Bias and activation applied to the rows of a product's output, in place, vectorised;
/// spread over the pool for large outputs (BLAS itself has returned by then).
struct Epilogue: Sendable {
    let activation: LinearActivation

    func apply(_ out: UnsafeMutablePointer<Float>, rows: Int, n: Int,
               bias: UnsafePointer<Float>?, pool: ThreadPool) {
        if activation == .none && bias == nil { return }
        let code = activation.vectorKernelCode, n64 = Int64(n)
        Parallelism.rows(rows, elementsPerRow: n, pool) { range in
            let first = out + range.lowerBound * n
            cvk_activation_rows(code, 0, first, n64, bias, first, n64, Int64(range.count), n64)
        }
    }
}

/// `linear` on OpenBLAS: `sgemm` for many rows, `sgemv` for one, the few-row AVX-512 kernels
/// (`FewRowProduct`) for 2-16; `io` weights ([K, N], no transpose) or `oi` ([N, K], transposed).
/// Where the CPU has AVX-512, `io` weights with more rows go to the panel kernel
/// (`PanelProduct`), which hides the weight's read behind the arithmetic. `f32` weights are used
/// straight from the model file; `f16` weights too where the CPU has AVX-512 (`io`: few-row
/// kernels up to 16 rows, the panel kernel above; `oi`: few-row kernels in passes of 16 rows);
/// other `f16` / `bf16` are widened once, here, into memory the kernel owns.
struct BLASLinear: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    /// The weight as `f32` (nil when `halfWeight` is used instead).
    let weight: PreparedFloats?
    /// An `f16` `io` weight the panel kernel reads in place.
    let halfWeight: HalfMatrix?
    let k: Int
    let n: Int
    /// `oi` layout: the weight is `[N, K]`.
    let transposed: Bool
    let bias: PreparedFloats?
    let runtimeBiasIndex: Int?
    let epilogue: Epilogue

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(2, atMost: 3)
        label = NodeLabel(request.node)
        let layout = request.string("w_layout") ?? "io"
        guard request.node.attrs["w_layout"] == nil || request.string("w_layout") != nil,
              layout == "io" || layout == "oi" else {
            throw label.error("w_layout must be \"io\" or \"oi\", got \(request.node.attrs["w_layout"].map { "\($0)" } ?? "?")")
        }
        transposed = layout == "oi"
        let constant = request.constants.count > 1 ? request.constants[1] : nil
        // f16 read in place: `io` by the few-row and panel kernels, `oi` (e.g. a tied LM head)
        // by the few-row kernels, in passes of 16 rows. Both need AVX-512: an `oi` weight may
        // also meet CLIP's 50 rows, which the AVX2 few-row kernels would take in 4 passes where
        // today's widened copy runs one `sgemm` (not measured yet: see docs/PERFORMANCE.md).
        let readsHalf = PanelProduct.available
        let half = readsHalf ? constant.flatMap(HalfMatrix.init) : nil
        guard let operands = FloatOperands(request, skipping: half == nil ? [] : [1]) else { return nil }
        guard let shape = half == nil ? operands.prepared[1]?.shape : constant?.shape else {
            throw label.error("the weight (input 1) must be a tensor of the model file")
        }
        guard shape.rank == 2 else { throw label.error("weight must be 2-D, got \(shape)") }
        k = transposed ? shape[1] : shape[0]
        n = transposed ? shape[0] : shape[1]
        guard OpenBLAS.fits(k, n, 1) else { throw label.error("weight \(shape) is too large for 32-bit BLAS sizes") }
        weight = half == nil ? operands.prepared[1] : nil
        halfWeight = half
        if request.hasInput(2) {
            if let b = operands.prepared[2] {
                guard b.shape.elementCount == n else { throw label.error("bias has shape \(b.shape), expected [\(n)]") }
                bias = b
                runtimeBiasIndex = nil
            } else {
                bias = nil
                runtimeBiasIndex = 2
            }
        } else {
            bias = nil
            runtimeBiasIndex = nil
        }
        epilogue = Epilogue(activation: try LinearActivation(request))
        self.operands = operands
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let x = try operands.input(0, inputs)
        guard x.shape.rank >= 1, x.shape.last == k else {
            throw label.error("x is \(x.shape) but the weight expects \(k) input features")
        }
        var biasPointer = bias?.base
        if let index = runtimeBiasIndex {
            let b = try operands.input(index, inputs)
            guard b.count == n else { throw label.error("bias has shape \(b.shape), expected [\(n)]") }
            biasPointer = b.pointer
        }
        let out = try operands.output(outputs, expected: ShapeChecks.replacingLast(x.shape, with: n))
        let rows = ShapeChecks.leadingCount(x.shape)
        guard rows > 0, n > 0 else { return }
        guard OpenBLAS.fits(rows, n, k) else { throw label.error("x \(x.shape) is too large for 32-bit BLAS sizes") }
        if k == 0 {
            out.update(repeating: 0, count: rows * n)
        } else if let halfWeight {
            if transposed || FewRowProduct.handles(rows: rows) {
                FewRowProduct.productHalf(m: rows, n: n, k: k, a: x.pointer,
                                          b: halfWeight.base.assumingMemoryBound(to: UInt16.self), transposeB: transposed,
                                          c: out, context: context)
            } else {
                PanelProduct.product(m: rows, n: n, k: k, a: x.pointer, b: halfWeight.base, half: true, c: out,
                                     context: context)
            }
        } else if let weight {
            if FewRowProduct.handles(rows: rows) {
                FewRowProduct.product(m: rows, n: n, k: k, a: x.pointer, b: weight.base, transposeB: transposed,
                                      c: out, context: context)
            } else if !transposed && PanelProduct.usedForF32 {
                PanelProduct.product(m: rows, n: n, k: k, a: x.pointer, b: UnsafeRawPointer(weight.base), half: false,
                                     c: out, context: context)
            } else {
                OpenBLAS.product(m: rows, n: n, k: k, a: x.pointer, lda: k, b: weight.base,
                                 transposeB: transposed, c: out, ldc: n)
            }
        }
        epilogue.apply(out, rows: rows, n: n, bias: biasPointer, pool: context.pool)
    }
}

/// `matmul` on OpenBLAS: one `sgemm` (or `sgemv` for a single row) per batch entry.
struct BLASMatmul: Kernel {
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
        guard g.m > 0, g.n > 0 else { return }
        guard OpenBLAS.fits(g.m, g.n, g.k) else { throw label.error("a \(a.shape) is too large for 32-bit BLAS sizes") }
        for batch in 0..<g.batches {
            let c = out + batch * g.m * g.n
            if g.k == 0 {
                c.update(repeating: 0, count: g.m * g.n)
                continue
            }
            OpenBLAS.product(m: g.m, n: g.n, k: g.k, a: a.pointer + batch * g.m * g.k, lda: g.k,
                             b: b.pointer + batch * g.k * g.n, transposeB: transposeB, c: c, ldc: g.n)
        }
    }
}
