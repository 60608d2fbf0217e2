import CCMFormat
import Engine

// Data movement is copying: contiguous runs are copied as blocks. These kernels are simple
// enough to be the reference and fast enough for the fast backends, so naive and blas both
// dispatch these same kernels (shared here rather than one backend importing the other).

/// `reshape`: the same elements in a new shape (one block copy; the executor normally aliases
/// instead of calling this).
public struct ReshapeKernel: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    let target: [Int]

    public init?(_ request: KernelRequest) throws {
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

    public func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let x = try operands.input(0, inputs)
        let out = try operands.output(outputs, expected: try ShapeChecks.reshape(x.shape, to: target, label))
        if UnsafePointer(out) != x.pointer { out.update(from: x.pointer, count: x.count) }
    }
}

/// `slice`: a contiguous copy of `x[..., lo:hi, ...]` along `axis`, bounds resolved per call:
/// one block copy per outer index.
public struct SliceKernel: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    let spec: SliceSpec

    public init?(_ request: KernelRequest) throws {
        try request.requireInputs(1, atMost: 1)
        label = NodeLabel(request.node)
        spec = try SliceSpec(request)
        guard let operands = FloatOperands(request) else { return nil }
        self.operands = operands
    }

    public func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let x = try operands.input(0, inputs)
        let axis = try spec.axis(rank: x.shape.rank, label)
        let (lo, hi) = try spec.bounds(dim: x.shape[axis], context, label)
        var outShape = x.shape
        outShape[axis] = hi - lo
        let out = try operands.output(outputs, expected: outShape)
        var outer = 1, inner = 1
        for i in 0..<axis { outer *= x.shape[i] }
        for i in (axis + 1)..<x.shape.rank { inner *= x.shape[i] }
        let dim = x.shape[axis], block = (hi - lo) * inner
        guard block > 0 else { return }
        for o in 0..<outer {
            (out + o * block).update(from: x.pointer + (o * dim + lo) * inner, count: block)
        }
    }
}

/// `concat`: inputs joined along `axis`, equal in every other dimension: one block copy per
/// input and outer index.
public struct ConcatKernel: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    let axis: Int
    let count: Int

    public init?(_ request: KernelRequest) throws {
        label = NodeLabel(request.node)
        count = request.node.inputs.count
        try request.requireInputs(max(count, 1))
        guard let axis = request.int("axis") else { throw label.error("needs an integer 'axis' attribute") }
        guard let operands = FloatOperands(request) else { return nil }
        self.axis = axis
        self.operands = operands
    }

    public func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
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
        let outBlock = outShape[axis] * inner
        var position = 0
        for i in 0..<count {
            let x = try operands.input(i, inputs)
            let block = x.shape[axis] * inner
            if block > 0 {
                for o in 0..<outer {
                    (out + o * outBlock + position).update(from: x.pointer + o * block, count: block)
                }
            }
            position += block
        }
    }
}

/// `expand`: `x [1, ...]` repeated along axis 0 to the first dimension of `like` (whose
/// element type does not matter: only its shape is read), one block copy per repeat.
public struct ExpandKernel: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    /// The shape of `like` when it is a tensor of the model file.
    let constantLikeShape: Shape?

    public init?(_ request: KernelRequest) throws {
        try request.requireInputs(2, atMost: 2)
        label = NodeLabel(request.node)
        guard let operands = FloatOperands(request, skipping: [1]) else { return nil }
        self.operands = operands
        constantLikeShape = request.constants.count > 1 ? request.constants[1]?.shape : nil
    }

    public func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
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
        guard x.count > 0 else { return }
        for n in 0..<outShape[0] { (out + n * x.count).update(from: x.pointer, count: x.count) }
    }
}

/// The dispatch entries of the kernels above, for every backend that runs them as they are
/// (one definition of each entry; `avgPool2d` is the pooling kernel's).
public enum SharedKernels {
    /// `reshape`, `slice`, `concat`, `expand`: block copies.
    public static func dataMovement(weightTypes: [DType], note: String) -> [KernelEntry] {
        [KernelEntry("reshape", weightTypes: weightTypes, note: note) { try ReshapeKernel($0) },
         KernelEntry("slice", weightTypes: weightTypes, note: note) { try SliceKernel($0) },
         KernelEntry("concat", weightTypes: weightTypes, note: note) { try ConcatKernel($0) },
         KernelEntry("expand", weightTypes: weightTypes, note: note) { try ExpandKernel($0) }]
    }

    /// `avg_pool2d` (`AvgPool2dKernel`).
    public static func avgPool2d(note: String) -> KernelEntry {
        KernelEntry("avg_pool2d", note: note) { try AvgPool2dKernel($0) }
    }
}
