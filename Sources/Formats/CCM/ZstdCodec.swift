import CZstd

// zstd compression and the byte-grouping shuffle of the `zstd` / `shuffled+zstd` encodings.

/// Compression helpers used by the writer, and decoding used by the reader.
enum ZstdCodec {
    /// Default compression level: fast (hundreds of MB/s) and within a few percent of higher levels on weights.
    static let defaultLevel: Int32 = 3

    /// One zstd frame with the content size and a content checksum.
    static func compress(_ input: UnsafeRawBufferPointer, level: Int32) throws -> [UInt8] {
        guard let cctx = ZSTD_createCCtx() else { throw ZstdFailure("cannot create a zstd context") }
        defer { ZSTD_freeCCtx(cctx) }
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1)
        let bound = ZSTD_compressBound(input.count)
        var out = [UInt8](repeating: 0, count: bound)
        let written = out.withUnsafeMutableBytes { dst in
            ZSTD_compress2(cctx, dst.baseAddress, dst.count, input.baseAddress, input.count)
        }
        if ZSTD_isError(written) != 0 { throw ZstdFailure(String(cString: ZSTD_getErrorName(written))) }
        out.removeSubrange(written...)
        return out
    }

    /// Decodes one frame into `output`, which must be exactly the declared decoded size.
    /// The frame must fill the whole input, declare exactly that size, and produce exactly it.
    static func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        guard let src = input.baseAddress, input.count > 0 else { throw ZstdFailure("no stored bytes") }
        let frameLength = ZSTD_findFrameCompressedSize(src, input.count)
        if ZSTD_isError(frameLength) != 0 { throw ZstdFailure("not a zstd frame: " + String(cString: ZSTD_getErrorName(frameLength))) }
        guard frameLength == input.count else {
            throw ZstdFailure("the zstd frame is \(frameLength) bytes, the tensor stores \(input.count)")
        }
        let declared = ZSTD_getFrameContentSize(src, input.count)
        guard declared == UInt64(output.count) else {
            let shown = declared >= ZSTD_CONTENTSIZE_ERROR ? "no size" : String(declared)
            throw ZstdFailure("the frame declares \(shown) decoded bytes, the tensor table \(output.count)")
        }
        let produced = ZSTD_decompress(output.baseAddress, output.count, src, input.count)
        if ZSTD_isError(produced) != 0 { throw ZstdFailure(String(cString: ZSTD_getErrorName(produced))) }
        guard produced == output.count else {
            throw ZstdFailure("decoded \(produced) bytes, expected \(output.count)")
        }
    }

    /// Groups bytes by position within each `elementSize`-byte element.
    static func shuffle(_ input: UnsafeRawBufferPointer, elementSize: Int) -> [UInt8] {
        if elementSize <= 1 { return Array(input) }   // identity for 1-byte types
        var out = [UInt8](repeating: 0, count: input.count)
        out.withUnsafeMutableBytes { dst in
            guard let src = input.baseAddress, let dstBase = dst.baseAddress, input.count > 0 else { return }
            let n = input.count / elementSize
            let s = src.assumingMemoryBound(to: UInt8.self), d = dstBase.assumingMemoryBound(to: UInt8.self)
            // Element-major loop: reads are sequential, each plane is written sequentially.
            for i in 0..<n {
                for b in 0..<elementSize { d[b &* n &+ i] = s[i &* elementSize &+ b] }
            }
        }
        return out
    }

    /// Inverse of `shuffle`.
    static func unshuffle(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, elementSize: Int) {
        guard let src = input.baseAddress, let dstBase = output.baseAddress, input.count > 0 else { return }
        let n = input.count / elementSize
        let s = src.assumingMemoryBound(to: UInt8.self), d = dstBase.assumingMemoryBound(to: UInt8.self)
        switch elementSize {
        case ...1:
            output.copyMemory(from: input)
        case 4:
            // The common case (f32, i32): assemble each word from the four planes.
            for i in 0..<n {
                let v = UInt32(s[i]) | UInt32(s[n &+ i]) << 8 | UInt32(s[2 &* n &+ i]) << 16 | UInt32(s[3 &* n &+ i]) << 24
                dstBase.storeBytes(of: UInt32(littleEndian: v), toByteOffset: i &* 4, as: UInt32.self)
            }
        case 2:
            for i in 0..<n {
                dstBase.storeBytes(of: UInt16(littleEndian: UInt16(s[i]) | UInt16(s[n &+ i]) << 8), toByteOffset: i &* 2, as: UInt16.self)
            }
        default:
            for i in 0..<n {
                for b in 0..<elementSize { d[i &* elementSize &+ b] = s[b &* n &+ i] }
            }
        }
    }
}

/// Why zstd failed.
struct ZstdFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
