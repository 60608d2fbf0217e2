/// Symmetric int8 quantization of a row-major `[rows, cols]` float matrix, and its inverse.
///
/// Values are in [-127, 127] (never -128: the AVX2 kernel's sign trick needs symmetric ranges).
/// Each group (a whole row for per-channel, `blockSize` elements for block) has
/// `scale = max|w| / 127` and `q = round(w / scale)`, so `|w - q·scale| <= scale / 2`.
/// An all-zero group gets scale 0.
public enum WeightQuantization {
    /// Quantizes `values` (`rows × cols`, row-major). Scales are `[rows]` for `.perChannel` and
    /// `[rows, ceil(cols / size)]` for `.block(size)`.
    public static func quantize(_ values: [Float], rows: Int, cols: Int, scheme: QuantizationScheme) -> (q: [Int8], scales: [Float]) {
        let group = scheme.blockSize > 0 ? min(scheme.blockSize, max(cols, 1)) : max(cols, 1)
        let groupsPerRow = cols == 0 ? 0 : (cols + group - 1) / group
        var q = [Int8](repeating: 0, count: rows * cols)
        var scales = [Float](repeating: 0, count: rows * (scheme.blockSize > 0 ? groupsPerRow : 1))
        values.withUnsafeBufferPointer { w in
            for r in 0..<rows {
                for g in 0..<groupsPerRow {
                    let start = r * cols + g * group
                    let end = min(start + group, (r + 1) * cols)
                    var amax: Float = 0
                    for i in start..<end where w[i].magnitude > amax { amax = w[i].magnitude }
                    // Non-finite weights cannot be represented; quantize them as zero.
                    if !amax.isFinite { amax = 0 }
                    let scale = amax / 127
                    let inverse: Float = amax > 0 ? 127 / amax : 0
                    for i in start..<end {
                        let v = (w[i] * inverse).rounded()
                        q[i] = v.isFinite ? Int8(max(-127, min(127, v))) : 0
                    }
                    if scheme.blockSize > 0 { scales[r * groupsPerRow + g] = scale } else { scales[r] = scale }
                }
            }
        }
        return (q, scales)
    }

    /// `q · scale` for every element (the inverse of `quantize`).
    public static func dequantize(_ q: [Int8], scales: [Float], rows: Int, cols: Int, scheme: QuantizationScheme) -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        let size = scheme.blockSize
        let groupsPerRow = size > 0 && cols > 0 ? (cols + size - 1) / size : 1
        for r in 0..<rows {
            for c in 0..<cols {
                let s = size > 0 ? scales[r * groupsPerRow + c / size] : scales[r]
                out[r * cols + c] = Float(q[r * cols + c]) * s
            }
        }
        return out
    }

    /// Reconstruction error of `original` vs `dequantize(quantize(original))`.
    public static func errorStats(original: [Float], reconstructed: [Float]) -> (maxAbs: Double, relativeRMS: Double, cosine: Double) {
        var maxAbs = 0.0, diff2 = 0.0, norm2 = 0.0, recon2 = 0.0, dot = 0.0
        for (a, b) in zip(original, reconstructed) where a.isFinite {
            let d = Double(a) - Double(b)
            maxAbs = max(maxAbs, abs(d))
            diff2 += d * d
            norm2 += Double(a) * Double(a)
            recon2 += Double(b) * Double(b)
            dot += Double(a) * Double(b)
        }
        let rel = norm2 > 0 ? (diff2 / norm2).squareRoot() : 0
        let cos = norm2 > 0 && recon2 > 0 ? dot / (norm2.squareRoot() * recon2.squareRoot()) : 1
        return (maxAbs, rel, cos)
    }

    /// Transposes a row-major `[rows, cols]` matrix into `[cols, rows]` (for `io` weights).
    public static func transpose(_ values: [Float], rows: Int, cols: Int) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        for r in 0..<rows {
            for c in 0..<cols { out[c * rows + r] = values[r * cols + c] }
        }
        return out
    }
}
