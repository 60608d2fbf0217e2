import CCMFormat

/// How a source tensor's elements are rearranged on their way into the model file.
/// Every case is listed, with the reason, in docs/CONVERT.md.
enum WeightTransform: Sendable, Equatable {
    /// Same elements, same order (the output shape may differ: a pure reshape).
    case identity
    /// The source viewed as a matrix [shape[0], rest] is transposed. Used to store
    /// `nn.Linear` weights [out, in] as [in, out] (`w_layout` "io"), and for CLIP's `conv1`.
    case transpose
    /// Rows `range` of the source viewed as [shape[0], rest] (e.g. q, k, v of `in_proj_weight`).
    case rows(Range<Int>)
    /// Rows `range`, then transposed.
    case rowsTransposed(Range<Int>)
}

/// One tensor of the output file: where its values come from and how they are rearranged
/// and converted. Bytes are produced only when the writer asks for them.
struct PlannedTensor: Sendable {
    /// Name in the `.ccm` file.
    var name: String
    /// Element type in the `.ccm` file (`f32` or `f16`).
    var dtype: DType
    var shape: [Int]
    var source: InputTensor
    var transform: WeightTransform

    var count: Int { shape.reduce(1, *) }
    var byteCount: Int { count * dtype.size }

    /// The output bytes: source elements rearranged, then converted to `dtype`.
    func bytes() throws -> [UInt8] {
        let raw = try source.load()
        let elementSize = source.dtype.size
        guard raw.count == source.count * elementSize else {
            throw ConvertError.unreadableCheckpoint(
                role: "input", path: source.name,
                reason: "tensor \(source.name) has \(raw.count) bytes, its shape \(source.shape) needs \(source.count * elementSize)")
        }
        let arranged = Self.rearrange(raw, elementSize: elementSize, sourceShape: source.shape, transform: transform)
        return try ElementConversion.convert(arranged, from: source.dtype, to: dtype, tensorName: source.name)
    }

    /// Applies `transform` on whole elements of `elementSize` bytes.
    static func rearrange(_ raw: [UInt8], elementSize: Int, sourceShape: [Int], transform: WeightTransform) -> [UInt8] {
        let rows = sourceShape.first ?? 1
        let cols = sourceShape.count > 1 ? sourceShape.dropFirst().reduce(1, *) : 1
        switch transform {
        case .identity:
            return raw
        case .rows(let range):
            return Array(raw[(range.lowerBound * cols * elementSize)..<(range.upperBound * cols * elementSize)])
        case .transpose:
            return transpose(raw, rows: rows, cols: cols, rowOffset: 0, elementSize: elementSize)
        case .rowsTransposed(let range):
            return transpose(raw, rows: range.count, cols: cols, rowOffset: range.lowerBound, elementSize: elementSize)
        }
    }

    /// out[c][r] = in[rowOffset + r][c], for an `rows` x `cols` block of whole elements.
    private static func transpose(_ raw: [UInt8], rows: Int, cols: Int, rowOffset: Int, elementSize: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rows * cols * elementSize)
        // Blocked so both sides stay in cache for the 768 x 3072 matrices.
        let block = 32
        var r0 = 0
        while r0 < rows {
            let r1 = min(r0 + block, rows)
            var c0 = 0
            while c0 < cols {
                let c1 = min(c0 + block, cols)
                for r in r0..<r1 {
                    let sourceRow = (rowOffset + r) * cols
                    for c in c0..<c1 {
                        let from = (sourceRow + c) * elementSize
                        let to = (c * rows + r) * elementSize
                        for b in 0..<elementSize { out[to + b] = raw[from + b] }
                    }
                }
                c0 = c1
            }
            r0 = r1
        }
        return out
    }
}

/// Float element conversions between the dtypes checkpoints use and the ones the file stores.
enum ElementConversion {
    /// Converts little-endian `f32`/`f16`/`bf16` elements to `f32` or `f16`.
    static func convert(_ bytes: [UInt8], from source: DType, to target: DType, tensorName: String) throws -> [UInt8] {
        if source == target { return bytes }
        let floats: [Float]
        switch source {
        case .f32: floats = decodeF32(bytes)
        case .f16: floats = decodeF16(bytes)
        case .bf16: floats = decodeBF16(bytes)
        default: throw ConvertError.unsupportedDType(name: tensorName, dtype: source.description, path: tensorName)
        }
        switch target {
        case .f32: return encodeF32(floats)
        case .f16: return encodeF16(floats)
        default: throw ConvertError.invalidOption("cannot store weights as \(target); use --dtype f32 or f16")
        }
    }

    static func decodeF32(_ bytes: [UInt8]) -> [Float] {
        let n = bytes.count / 4
        var out = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let b = i * 4
            let bits = UInt32(bytes[b]) | UInt32(bytes[b + 1]) << 8 | UInt32(bytes[b + 2]) << 16 | UInt32(bytes[b + 3]) << 24
            out[i] = Float(bitPattern: bits)
        }
        return out
    }

    static func decodeF16(_ bytes: [UInt8]) -> [Float] {
        let n = bytes.count / 2
        var out = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let bits = UInt16(bytes[2 * i]) | UInt16(bytes[2 * i + 1]) << 8
            out[i] = Float(Float16(bitPattern: bits))
        }
        return out
    }

    static func decodeBF16(_ bytes: [UInt8]) -> [Float] {
        let n = bytes.count / 2
        var out = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let bits = UInt32(bytes[2 * i]) << 16 | UInt32(bytes[2 * i + 1]) << 24
            out[i] = Float(bitPattern: bits)
        }
        return out
    }

    static func encodeF32(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 4)
        for (i, v) in values.enumerated() {
            let bits = v.bitPattern
            out[4 * i] = UInt8(truncatingIfNeeded: bits)
            out[4 * i + 1] = UInt8(truncatingIfNeeded: bits >> 8)
            out[4 * i + 2] = UInt8(truncatingIfNeeded: bits >> 16)
            out[4 * i + 3] = UInt8(truncatingIfNeeded: bits >> 24)
        }
        return out
    }

    /// Round-to-nearest-even, as `torch.Tensor.half()`.
    static func encodeF16(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 2)
        for (i, v) in values.enumerated() {
            let bits = Float16(v).bitPattern
            out[2 * i] = UInt8(truncatingIfNeeded: bits)
            out[2 * i + 1] = UInt8(truncatingIfNeeded: bits >> 8)
        }
        return out
    }
}
