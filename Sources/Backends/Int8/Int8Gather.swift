import CCMFormat
import Engine
import KernelSupport

/// `gather` on an int8 table (written by `clipcapctl quantize --quantize-embeddings`): each
/// requested row is dequantized as it is copied, so the table stays int8 in the file's memory.
struct Int8Gather: Kernel {
    let nodeName: String
    let table: WeightTensor
    let vocab: Int
    let width: Int
    /// 0 for per-row (per_channel on axis 0) scales; the block length otherwise.
    let block: Int
    let scales: PreparedFloats

    /// `nil` unless the table is an int8 model-file tensor with quantization info.
    init?(_ request: KernelRequest) throws {
        nodeName = request.node.name
        guard let t = request.constants.first ?? nil, t.dtype == .i8 else { return nil }
        func fail(_ message: String) -> KernelError { KernelError("node '\(request.node.name)' (gather): \(message)") }
        guard request.node.inputs.count == 2 else { throw fail("needs inputs (table, ids)") }
        guard t.shape.rank == 2 else { throw fail("table '\(t.name)' must be [V, D], got \(t.shape)") }
        guard t.bytes.count >= t.shape.elementCount else { throw fail("table '\(t.name)' holds fewer bytes than \(t.shape) needs") }
        guard let q = t.quantization, let s = t.scales, let prepared = PreparedFloats(weight: s) else {
            throw fail("int8 table '\(t.name)' has no scales")
        }
        vocab = t.shape[0]
        width = t.shape[1]
        switch q.scheme {
        case "per_channel":
            guard q.axis == 0, prepared.count == vocab else {
                throw fail("int8 table '\(t.name)' needs one scale per row (axis 0), got axis \(q.axis), \(prepared.count) scales")
            }
            block = 0
        case "block":
            guard q.blockSize >= 1, prepared.count == vocab * ((width + q.blockSize - 1) / q.blockSize) else {
                throw fail("int8 table '\(t.name)' has \(prepared.count) block scales, which does not match \(t.shape) and block \(q.blockSize)")
            }
            block = q.blockSize
        default:
            throw fail("int8 table '\(t.name)' has unknown scheme '\(q.scheme)'")
        }
        table = t
        scales = prepared
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        guard inputs.count >= 2, inputs[1].dtype == .i32 else {
            throw KernelError("node '\(nodeName)' (gather): ids must be i32")
        }
        let ids = inputs[1]
        var expected = ids.shape
        guard expected.rank < Shape.maxRank else { throw KernelError("node '\(nodeName)' (gather): ids have too many dimensions") }
        expected.append(width)
        guard let out = outputs.first, out.dtype == .f32, out.shape == expected, let dst = out.mutableFloats else {
            throw KernelError("node '\(nodeName)' (gather): output view must be f32 \(expected)")
        }
        let q = table.bytes
        let blocks = block == 0 ? 1 : (width + block - 1) / block
        for i in 0..<ids.elementCount {
            let id = Int(ids.int32s[i])
            guard id >= 0 && id < vocab else {
                throw KernelError("node '\(nodeName)' (gather): token id \(id) at position \(i) is outside the table's 0..<\(vocab)")
            }
            for j in 0..<width {
                let s = block == 0 ? scales.base[id] : scales.base[id * blocks + j / block]
                dst[i * width + j] = Float(Int8(bitPattern: q[id * width + j])) * s
            }
        }
    }
}
