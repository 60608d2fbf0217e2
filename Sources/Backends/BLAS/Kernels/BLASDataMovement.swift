import CCMFormat
import CVectorKernels
import Engine
import KernelSupport

/// `gather`: rows of the table copied (`f32`, straight from the model file) or widened
/// (`f16`, `bf16`) into the output. No widened copy of the table is kept.
struct BLASGather: Kernel {
    let label: NodeLabel
    let table: WeightTensor?
    let constantIds: WeightTensor?

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(2, atMost: 2)
        label = NodeLabel(request.node)
        table = request.constants.first ?? nil
        constantIds = request.constants.count > 1 ? request.constants[1] : nil
        if let table {
            guard PreparedFloats.supportedTypes.contains(table.dtype) else { return nil }
            guard table.shape.rank == 2 else { throw label.error("table must be [V, D], got \(table.shape)") }
            guard table.bytes.count >= table.shape.elementCount * table.dtype.size else {
                throw label.error("table '\(table.name)' holds fewer bytes than its shape \(table.shape) needs")
            }
        } else if let t = request.inputTypes.first ?? nil, t != .f32 {
            return nil
        }
        if let ids = request.inputTypes.count > 1 ? request.inputTypes[1] : nil, ids != .i32 { return nil }
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        guard inputs.count >= 2 || (table != nil && constantIds != nil) else { throw label.error("needs table and ids") }
        let tableView = table?.view ?? inputs[0]
        let idsView = constantIds?.view ?? inputs[1]
        guard tableView.shape.rank == 2 else { throw label.error("table must be [V, D], got \(tableView.shape)") }
        guard PreparedFloats.supportedTypes.contains(tableView.dtype) else {
            throw label.error("table is \(tableView.dtype), expected f32, f16 or bf16")
        }
        guard idsView.dtype == .i32 else { throw label.error("ids are \(idsView.dtype), expected i32") }
        guard idsView.shape.rank < Shape.maxRank else {
            throw label.error("ids have rank \(idsView.shape.rank); the output would exceed rank \(Shape.maxRank)")
        }
        let vocab = tableView.shape[0], width = tableView.shape[1]
        var expected = idsView.shape
        expected.append(width)
        guard let out = outputs.first, out.dtype == .f32, out.shape == expected, let dst = out.mutableFloats else {
            throw label.error("output view must be f32 \(expected)")
        }
        for i in 0..<idsView.shape.elementCount {
            let id = Int(idsView.data.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
            guard id >= 0 && id < vocab else {
                throw label.error("token id \(id) at position \(i) is outside the table's 0..<\(vocab)")
            }
            let row = dst + i * width
            let source = tableView.data + id * width * tableView.dtype.size
            switch tableView.dtype {
            case .f32:
                UnsafeMutableRawPointer(row).copyMemory(from: source, byteCount: width * 4)
            case .f16:
                cvk_f16_to_f32(source, row, Int64(width))
            default:
                for j in 0..<width {
                    row[j] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: j * 2, as: UInt16.self)) << 16)
                }
            }
        }
    }
}

/// `permute`: walks the output in order with an odometer over the input strides (no division
/// per element); a unit-stride innermost axis is copied as a block.
struct BLASPermute: Kernel {
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
        let count = x.count
        guard count > 0 else { return }
        let rank = outShape.rank
        if rank == 0 { out[0] = x.pointer[0]; return }
        let inStrides = ShapeChecks.strides(x.shape)
        // stride[i]: input stride of output axis i.
        var stride = outShape
        for i in 0..<rank { stride[i] = inStrides[spec.perm[i]] }
        let inner = outShape[rank - 1], innerStride = stride[rank - 1]
        var counter = outShape
        for i in 0..<rank { counter[i] = 0 }
        var source = 0
        var written = 0
        while written < count {
            let dst = out + written
            if innerStride == 1 {
                dst.update(from: x.pointer + source, count: inner)
            } else {
                for e in 0..<inner { dst[e] = x.pointer[source + e * innerStride] }
            }
            written += inner
            // Advance the odometer over the outer axes.
            var axis = rank - 2
            while axis >= 0 {
                counter[axis] += 1
                source += stride[axis]
                if counter[axis] < outShape[axis] { break }
                source -= stride[axis] * outShape[axis]
                counter[axis] = 0
                axis -= 1
            }
        }
    }
}
