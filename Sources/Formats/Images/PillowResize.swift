/// Pillow's `Image.resize(size, BICUBIC)` for RGB images (two separable passes, horizontal
/// then vertical, each rounding and clipping to 8 bits), evaluated only on an output window.
///
/// Every output pixel of Pillow's passes depends only on its own weights, so computing just
/// the pixels of the later centre crop gives exactly the values Pillow computes for them,
/// while avoiding the work (and the memory, for extreme aspect ratios) of the full image.
enum PillowResize {
    /// Resizes `image` to `outWidth x outHeight` and returns the pixels in
    /// `columns x rows` (HWC, 3 bytes per pixel).
    static func resizeWindow(_ image: RGBImage, outWidth: Int, outHeight: Int,
                             columns: Range<Int>, rows: Range<Int>) -> [UInt8] {
        // Pillow skips a pass whose size does not change (the bicubic weights would be the identity).
        let horizontal = outWidth != image.width
        let vertical = outHeight != image.height
        let vCoefficients = vertical ? BicubicCoefficients(inSize: image.height, outSize: outHeight, window: rows) : nil
        let hCoefficients = horizontal ? BicubicCoefficients(inSize: image.width, outSize: outWidth, window: columns) : nil

        // Input rows the vertical pass reads.
        let sourceRows: Range<Int>
        if let v = vCoefficients {
            let low = v.first.min() ?? 0
            let high = zip(v.first, v.count).map { $0 + $1 }.max() ?? low
            sourceRows = low..<max(low, high)
        } else {
            sourceRows = rows
        }

        let rowBytes = columns.count * 3
        var band = [UInt8](repeating: 0, count: sourceRows.count * rowBytes)
        image.pixels.withUnsafeBufferPointer { src in
            band.withUnsafeMutableBufferPointer { dst in
                if let h = hCoefficients {
                    horizontalPass(src, width: image.width, rows: sourceRows, h, into: dst)
                } else {
                    for (i, r) in sourceRows.enumerated() {
                        let from = (r * image.width + columns.lowerBound) * 3
                        for b in 0..<rowBytes { dst[i * rowBytes + b] = src[from + b] }
                    }
                }
            }
        }
        guard let v = vCoefficients else { return band }
        var out = [UInt8](repeating: 0, count: rows.count * rowBytes)
        band.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                verticalPass(src, rowBytes: rowBytes, firstRow: sourceRows.lowerBound, v, into: dst)
            }
        }
        return out
    }

    /// Pillow's `clip8`: drop the fraction bits, clamp to 0...255.
    @inline(__always)
    static func clip8(_ value: Int32) -> UInt8 {
        let shifted = value >> BicubicCoefficients.precisionBits
        return shifted < 0 ? 0 : shifted > 255 ? 255 : UInt8(truncatingIfNeeded: shifted)
    }

    /// One output pixel per (source row, window column); accumulation in Int32 like Pillow's `int`.
    private static func horizontalPass(_ src: UnsafeBufferPointer<UInt8>, width: Int, rows: Range<Int>,
                                       _ c: BicubicCoefficients, into dst: UnsafeMutableBufferPointer<UInt8>) {
        let half: Int32 = 1 << (BicubicCoefficients.precisionBits - 1)
        let outColumns = c.first.count
        c.weights.withUnsafeBufferPointer { weights in
            for (i, r) in rows.enumerated() {
                let rowStart = r * width * 3
                let outStart = i * outColumns * 3
                for j in 0..<outColumns {
                    var s0 = half, s1 = half, s2 = half
                    var p = rowStart + c.first[j] * 3
                    let k = j * c.taps
                    for t in 0..<c.count[j] {
                        let w = weights[k + t]
                        s0 &+= Int32(src[p]) &* w
                        s1 &+= Int32(src[p + 1]) &* w
                        s2 &+= Int32(src[p + 2]) &* w
                        p += 3
                    }
                    dst[outStart + j * 3] = clip8(s0)
                    dst[outStart + j * 3 + 1] = clip8(s1)
                    dst[outStart + j * 3 + 2] = clip8(s2)
                }
            }
        }
    }

    /// Each output row is a weighted sum of whole band rows: contiguous, vectorisable loops.
    private static func verticalPass(_ src: UnsafeBufferPointer<UInt8>, rowBytes: Int, firstRow: Int,
                                     _ c: BicubicCoefficients, into dst: UnsafeMutableBufferPointer<UInt8>) {
        let half: Int32 = 1 << (BicubicCoefficients.precisionBits - 1)
        var accumulator = [Int32](repeating: 0, count: rowBytes)
        c.weights.withUnsafeBufferPointer { weights in
            accumulator.withUnsafeMutableBufferPointer { acc in
                for j in 0..<c.first.count {
                    for b in 0..<rowBytes { acc[b] = half }
                    for t in 0..<c.count[j] {
                        let w = weights[j * c.taps + t]
                        let row = (c.first[j] - firstRow + t) * rowBytes
                        for b in 0..<rowBytes { acc[b] &+= Int32(src[row + b]) &* w }
                    }
                    let out = j * rowBytes
                    for b in 0..<rowBytes { dst[out + b] = clip8(acc[b]) }
                }
            }
        }
    }
}
