import CCMFormat
import Engine

/// `reshape`: the same elements in a new shape (a copy; the executor may alias instead).
struct NaiveReshape: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    let target: [Int]

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(1, atMost: 1)
        label = NodeLabel(request.node)
        guard let target = request.ints("shape") else { throw label.error("needs a 'shape' attribute (integers)") }
        guard target.count <= Shape.maxRank, target.filter({ $0 == -1 }).count <= 1 else {
            throw label.error("shape \(target) has rank > \(Shape.maxRank) or more than one -1")
        }
        guard let operands = FloatOperands(request) else { return nil }
        self.target = target
        self.operands = operands
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let x = try operands.input(0, inputs)
        let out = try operands.output(outputs, expected: try ShapeChecks.reshape(x.shape, to: target, label))
        for i in 0..<x.count { out[i] = x.pointer[i] }
    }
}

/// `permute`: `out.shape[i] = x.shape[perm[i]]`, rank up to 8; each output element reads the
/// input element at the permuted coordinates.
struct NaivePermute: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    let perm: Shape

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(1, atMost: 1)
        label = NodeLabel(request.node)
        guard let perm = request.ints("perm") else { throw label.error("needs a 'perm' attribute (integers)") }
        try ShapeChecks.validatePermutation(perm, label)
        guard let operands = FloatOperands(request) else { return nil }
        self.perm = Shape(perm)
        self.operands = operands
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let x = try operands.input(0, inputs)
        guard x.shape.rank == perm.rank else { throw label.error("perm \(perm) has rank \(perm.rank) but x is \(x.shape)") }
        let outShape = ShapeChecks.permuted(x.shape, perm)
        let out = try operands.output(outputs, expected: outShape)
        let inStrides = ShapeChecks.strides(x.shape)
        for i in 0..<x.count {
            var rest = i
            var source = 0
            var axis = outShape.rank - 1
            while axis >= 0 {
                let coordinate = rest % outShape[axis]
                rest /= outShape[axis]
                source += coordinate * inStrides[perm[axis]]
                axis -= 1
            }
            out[i] = x.pointer[source]
        }
    }
}

/// `slice`: a contiguous copy of `x[..., lo:hi, ...]` along `axis`, bounds resolved per call.
struct NaiveSlice: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    let spec: SliceSpec

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(1, atMost: 1)
        label = NodeLabel(request.node)
        spec = try SliceSpec(request)
        guard let operands = FloatOperands(request) else { return nil }
        self.operands = operands
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let x = try operands.input(0, inputs)
        let axis = try spec.axis(rank: x.shape.rank, label)
        let (lo, hi) = try spec.bounds(dim: x.shape[axis], context, label)
        var outShape = x.shape
        outShape[axis] = hi - lo
        let out = try operands.output(outputs, expected: outShape)
        var outer = 1, inner = 1
        for i in 0..<axis { outer *= x.shape[i] }
        for i in (axis + 1)..<x.shape.rank { inner *= x.shape[i] }
        let dim = x.shape[axis], kept = hi - lo
        for o in 0..<outer {
            for a in 0..<kept {
                for i in 0..<inner {
                    out[(o * kept + a) * inner + i] = x.pointer[(o * dim + lo + a) * inner + i]
                }
            }
        }
    }
}

/// `concat`: inputs joined along `axis`, equal in every other dimension.
struct NaiveConcat: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    let axis: Int
    let count: Int

    init?(_ request: KernelRequest) throws {
        label = NodeLabel(request.node)
        count = request.node.inputs.count
        try request.requireInputs(max(count, 1))
        guard let axis = request.int("axis") else { throw label.error("needs an integer 'axis' attribute") }
        guard let operands = FloatOperands(request) else { return nil }
        self.axis = axis
        self.operands = operands
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let first = try operands.input(0, inputs)
        let axis = try ShapeChecks.axis(self.axis, rank: first.shape.rank, label)
        var outShape = first.shape
        outShape[axis] = 0
        for i in 0..<count {
            let s = try operands.input(i, inputs).shape
            guard s.rank == first.shape.rank else { throw label.error("input \(i) \(s) and input 0 \(first.shape) differ in rank") }
            for a in 0..<s.rank where a != axis && s[a] != first.shape[a] {
                throw label.error("input \(i) \(s) and input 0 \(first.shape) differ outside axis \(axis)")
            }
            outShape[axis] += s[axis]
        }
        let out = try operands.output(outputs, expected: outShape)
        var outer = 1, inner = 1
        for i in 0..<axis { outer *= first.shape[i] }
        for i in (axis + 1)..<first.shape.rank { inner *= first.shape[i] }
        let total = outShape[axis]
        var position = 0
        for i in 0..<count {
            let x = try operands.input(i, inputs)
            let dim = x.shape[axis]
            for o in 0..<outer {
                for a in 0..<dim {
                    for e in 0..<inner {
                        out[(o * total + position + a) * inner + e] = x.pointer[(o * dim + a) * inner + e]
                    }
                }
            }
            position += dim
        }
    }
}

/// `expand`: `x [1, ...]` repeated along axis 0 to the first dimension of `like` (whose
/// element type does not matter: only its shape is read).
struct NaiveExpand: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    /// The shape of `like` when it is a tensor of the model file.
    let constantLikeShape: Shape?

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(2, atMost: 2)
        label = NodeLabel(request.node)
        guard let operands = FloatOperands(request, skipping: [1]) else { return nil }
        self.operands = operands
        constantLikeShape = request.constants.count > 1 ? request.constants[1]?.shape : nil
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let x = try operands.input(0, inputs)
        let likeShape: Shape
        if let constantLikeShape {
            likeShape = constantLikeShape
        } else {
            guard inputs.count >= 2 else { throw label.error("needs x and like") }
            likeShape = inputs[1].shape
        }
        guard x.shape.rank >= 1, x.shape[0] == 1, likeShape.rank >= 1 else {
            throw label.error("needs x [1, ...] and like [N, ...]; got \(x.shape) and \(likeShape)")
        }
        var outShape = x.shape
        outShape[0] = likeShape[0]
        let out = try operands.output(outputs, expected: outShape)
        for n in 0..<outShape[0] {
            for i in 0..<x.count { out[n * x.count + i] = x.pointer[i] }
        }
    }
}
