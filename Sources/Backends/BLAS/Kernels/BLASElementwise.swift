import CCMFormat
import CVectorKernels
import Engine
import KernelSupport

/// `scale`, `gelu_erf`, `gelu_tanh`, `quick_gelu`, `tanh`, `relu`: vectorised, over the pool for
/// large tensors.
struct BLASUnary: Kernel {
    enum Function: Sendable {
        case scale(Float)
        case activation(LinearActivation)
    }

    let label: NodeLabel
    let operands: FloatOperands
    let function: Function

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(1, atMost: 1)
        label = NodeLabel(request.node)
        switch request.node.op {
        case "scale":
            guard let v = try request.optionalFloat("value") else { throw label.error("needs a 'value' attribute") }
            function = .scale(Float(v))
        case "gelu_erf": function = .activation(.geluErf)
        case "gelu_tanh": function = .activation(.geluTanh)
        case "quick_gelu": function = .activation(.quickGelu)
        case "tanh": function = .activation(.tanh)
        case "relu": function = .activation(.relu)
        default: return nil
        }
        guard let operands = FloatOperands(request) else { return nil }
        self.operands = operands
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let x = try operands.input(0, inputs)
        let out = try operands.output(outputs, expected: x.shape)
        switch function {
        case .scale(let value):
            BLASUnary.apply(Int32(CVK_ACTIVATION_SCALE), value, x.pointer, out, x.count, context.pool)
        case .activation(let activation):
            BLASUnary.apply(activation.vectorKernelCode, 0, x.pointer, out, x.count, context.pool)
        }
    }

    /// `out = f(x)` (`cvk_activation_rows`) in blocks of 4096 elements, the blocks spread over
    /// the pool when large.
    static func apply(_ activation: Int32, _ scale: Float, _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                      _ count: Int, _ pool: ThreadPool) {
        let block = 4096
        let blocks = (count + block - 1) / block
        Parallelism.rows(blocks, elementsPerRow: block, pool) { range in
            let start = range.lowerBound * block, end = Swift.min(range.upperBound * block, count)
            cvk_activation_rows(activation, scale, x + start, 0, nil, out + start, 0, 1, Int64(end - start))
        }
    }

    /// `out = f(x)` for a Swift closure over eight lanes (plain arithmetic only), in the same blocks.
    @inline(__always) static func apply(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ count: Int,
                                        _ pool: ThreadPool, _ f: (F8) -> F8) {
        let block = 4096
        let blocks = (count + block - 1) / block
        Parallelism.rows(blocks, elementsPerRow: block, pool) { range in
            for b in range {
                let start = b * block
                RowOps.map(x + start, out + start, Swift.min(block, count - start), f)
            }
        }
    }
}

/// `add` / `mul` with trailing broadcasting. Fast paths: same shape; `b` equal to the trailing
/// dimensions of `a` (a bias or position table repeated over rows); a single `b` value. Other
/// broadcasts (size-1 axes inside `b`) walk coordinates like the naive kernel.
struct BLASBinary: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    let multiply: Bool

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(2, atMost: 2)
        label = NodeLabel(request.node)
        multiply = request.node.op == "mul"
        guard let operands = FloatOperands(request) else { return nil }
        self.operands = operands
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let a = try operands.input(0, inputs), b = try operands.input(1, inputs)
        guard ShapeChecks.broadcasts(b.shape, to: a.shape) else {
            throw label.error("b \(b.shape) does not broadcast to a \(a.shape) by trailing dimensions")
        }
        let out = try operands.output(outputs, expected: a.shape)
        if multiply {
            BLASBinary.combine(a, b, out, context.pool) { $0 * $1 }
        } else {
            BLASBinary.combine(a, b, out, context.pool) { $0 + $1 }
        }
    }

    @inline(__always) static func combine(_ a: FloatInput, _ b: FloatInput, _ out: UnsafeMutablePointer<Float>,
                                          _ pool: ThreadPool, _ f: (F8, F8) -> F8) {
        let count = a.count, period = b.count
        guard count > 0 else { return }
        if period == 1 {
            let s = F8(repeating: b.pointer[0])
            BLASUnary.apply(a.pointer, out, count, pool) { f($0, s) }
            return
        }
        // b covers the trailing dimensions of a exactly when no axis of b is a broadcast 1.
        var exactSuffix = true
        for i in 0..<b.shape.rank where b.shape[b.shape.rank - 1 - i] != a.shape[a.shape.rank - 1 - i] {
            exactSuffix = false
        }
        if exactSuffix {
            let rows = count / period
            Parallelism.rows(rows, elementsPerRow: period, pool) { range in
                for r in range {
                    RowOps.zip(a.pointer + r * period, b.pointer, out + r * period, period, f)
                }
            }
            return
        }
        let bStrides = ShapeChecks.strides(b.shape)
        let offset = a.shape.rank - b.shape.rank
        for i in 0..<count {
            var rest = i, bIndex = 0, axis = a.shape.rank - 1
            while axis >= 0 {
                let coordinate = rest % a.shape[axis]
                rest /= a.shape[axis]
                let bAxis = axis - offset
                if bAxis >= 0 && b.shape[bAxis] != 1 { bIndex += coordinate * bStrides[bAxis] }
                axis -= 1
            }
            out[i] = f(F8(repeating: a.pointer[i]), F8(repeating: b.pointer[bIndex]))[0]
        }
    }
}
