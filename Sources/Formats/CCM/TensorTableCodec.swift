// Binary encoding of the tensor table, and the per-entry checks done while decoding it.

enum TensorTableCodec {
    static func encode(_ entries: [TensorEntry], into w: inout ByteWriter) {
        w.u32(UInt32(entries.count))
        for e in entries {
            w.string(e.name)
            w.u8(e.dtype.rawValue)
            w.u8(e.layout.rawValue)
            w.u8(e.encoding.rawValue)
            w.u8(UInt8(e.shape.count))
            e.shape.forEach { w.u64(UInt64($0)) }
            w.u64(UInt64(e.offset))
            w.u64(UInt64(e.storedLength))
            w.u64(UInt64(e.byteCount))
            w.u32(e.checksum)
            if let q = e.quantization {
                w.u8(1)
                w.string(q.scheme)
                w.string(q.scalesTensor)
                w.i64(Int64(q.axis))
                w.i64(Int64(q.blockSize))
            } else {
                w.u8(0)
            }
        }
    }

    /// Decodes every entry, checking what can be checked on one entry alone.
    static func decode(_ r: inout ByteReader) throws -> [TensorEntry] {
        let path = r.path
        // Smallest entry: name length + 4 code bytes + 3 u64 + u32 + flag.
        let n = try r.count(of: "tensor", minItemBytes: 4 + 4 + 24 + 4 + 1, limit: FormatLimits.maxTensors)
        var entries: [TensorEntry] = []
        entries.reserveCapacity(n)
        for index in 0..<n {
            let name = try r.string(maxLength: FormatLimits.maxNameLength, what: "tensor name")
            guard !name.isEmpty else { throw r.malformed("tensor \(index) has an empty name") }
            let dtypeCode = try r.u8(), layoutCode = try r.u8(), encodingCode = try r.u8()
            guard let dtype = DType(rawValue: dtypeCode) else {
                throw ModelFileError.unknownCode(path: path, tensor: name, field: "dtype", code: dtypeCode)
            }
            guard let layout = TensorLayout(rawValue: layoutCode) else {
                throw ModelFileError.unknownCode(path: path, tensor: name, field: "layout", code: layoutCode)
            }
            guard let encoding = TensorEncoding(rawValue: encodingCode) else {
                throw ModelFileError.unknownCode(path: path, tensor: name, field: "encoding", code: encodingCode)
            }
            let rank = Int(try r.u8())
            guard rank <= FormatLimits.maxRank else {
                throw ModelFileError.absurdDimensions(path: path, tensor: name, reason: "rank \(rank) exceeds \(FormatLimits.maxRank)")
            }
            var dims: [UInt64] = []
            for _ in 0..<rank { dims.append(try r.u64()) }
            let offset = try r.u64(), stored = try r.u64(), byteCount = try r.u64()
            let checksum = try r.u32()
            var quantization: QuantizationInfo?
            if try r.bool() {
                let scheme = try r.string(maxLength: FormatLimits.maxNameLength, what: "quantization scheme")
                let scales = try r.string(maxLength: FormatLimits.maxNameLength, what: "scales tensor name")
                let axis = try r.i64(), block = try r.i64()
                guard let a = Int(exactly: axis), let b = Int(exactly: block),
                      a >= 0, a <= FormatLimits.maxRank, b >= 0, b <= Int(FormatLimits.maxDimension) else {
                    throw ModelFileError.badQuantization(path: path, tensor: name, reason: "axis \(axis) or block size \(block) out of range")
                }
                quantization = QuantizationInfo(scheme: scheme, scalesTensor: scales, axis: a, blockSize: b)
            }

            let sizes: (Int, Int)
            switch ShapeMath.sizes(of: dims, dtype: dtype) {
            case .success(let s): sizes = s
            case .failure(let p): throw ModelFileError.absurdDimensions(path: path, tensor: name, reason: p.reason)
            }
            guard byteCount == UInt64(sizes.1) else {
                throw ModelFileError.absurdDimensions(path: path, tensor: name,
                    reason: "declared \(byteCount) decoded bytes, shape \(dims) of \(dtype) needs \(sizes.1)")
            }
            // Offsets and lengths beyond Int.max cannot be in any file; the layout check bounds them by the file.
            guard offset <= UInt64(Int.max / 2), stored <= UInt64(Int.max / 2) else {
                throw ModelFileError.outOfBounds(path: path, what: "tensor '\(name)' (offset \(offset), length \(stored))")
            }
            let storedLength = Int(stored)
            if sizes.1 == 0 {
                guard storedLength == 0 else {
                    throw ModelFileError.absurdDimensions(path: path, tensor: name, reason: "empty tensor stores \(storedLength) bytes")
                }
            } else if encoding == .raw {
                guard storedLength == sizes.1 else {
                    throw ModelFileError.absurdDimensions(path: path, tensor: name,
                        reason: "raw tensor stores \(storedLength) bytes, its shape needs \(sizes.1)")
                }
            } else {
                let (expanded, overflow) = storedLength.multipliedReportingOverflow(by: FormatLimits.maxCompressionRatio)
                let cap = overflow ? FormatLimits.maxDecodedTensorBytes
                    : min(FormatLimits.maxDecodedTensorBytes, (1 << 20) + expanded)
                guard storedLength > 0, sizes.1 <= cap else {
                    throw ModelFileError.limitExceeded(path: path,
                        what: "decoded size \(sizes.1) of compressed tensor '\(name)' (\(storedLength) bytes stored)", limit: cap)
                }
            }
            entries.append(TensorEntry(name: name, dtype: dtype, shape: dims.map { Int($0) }, layout: layout,
                                       encoding: encoding, offset: Int(offset), storedLength: storedLength,
                                       byteCount: sizes.1, checksum: checksum, quantization: quantization, index: index))
        }
        try r.expectEnd()
        return entries
    }
}
