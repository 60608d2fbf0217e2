import CCMFormat
import Engine
import KernelSupport

/// `gather`: `out[i] = table[ids[i]]`. The table may be `f32`, `f16` or `bf16`; each element is
/// widened as it is read, so no widened copy of a large embedding table is kept.
struct NaiveGather: Kernel {
    let label: NodeLabel
    /// Set when the table is a tensor of the model file (read with its own element type).
    let table: WeightTensor?
    /// Set when the ids are a tensor of the model file.
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
        guard inputs.count >= 2 else { throw label.error("needs table and ids") }
        let tableView = table?.view ?? inputs[0]
        let idsView = constantIds?.view ?? inputs[1]
        guard tableView.shape.rank == 2 else { throw label.error("table must be [V, D], got \(tableView.shape)") }
        guard PreparedFloats.supportedTypes.contains(tableView.dtype) else { throw label.error("table is \(tableView.dtype), expected f32, f16 or bf16") }
        guard idsView.dtype == .i32 else { throw label.error("ids are \(idsView.dtype), expected i32") }
        guard idsView.shape.rank < Shape.maxRank else { throw label.error("ids have rank \(idsView.shape.rank); the output would exceed rank \(Shape.maxRank)") }
        let vocab = tableView.shape[0], width = tableView.shape[1]
        var expected = idsView.shape
        expected.append(width)
        guard let out = outputs.first, out.dtype == .f32, out.shape == expected, let dst = out.mutableFloats else {
            throw label.error("output view must be f32 \(expected)")
        }
        let count = idsView.shape.elementCount
        for i in 0..<count {
            let id = Int(idsView.data.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
            guard id >= 0 && id < vocab else {
                throw label.error("token id \(id) at position \(i) is outside the table's 0..<\(vocab)")
            }
            for j in 0..<width {
                dst[i * width + j] = FloatElement.load(tableView, id * width + j)
            }
        }
    }
}

/// Reads one element of a float view of any float element type, widened to `Float`.
enum FloatElement {
    @inline(__always) static func load(_ view: TensorView, _ index: Int) -> Float {
        switch view.dtype {
        case .f32: return view.data.loadUnaligned(fromByteOffset: index * 4, as: Float.self)
        case .f16: return Float(Float16(bitPattern: view.data.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)))
        case .bf16:
            let bits = UInt32(view.data.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)) << 16
            return Float(bitPattern: bits)
        default: return .nan
        }
    }
}
