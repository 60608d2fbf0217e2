/// `e^x` on eight floats at a time: range reduction to `x = n·ln2 + r`, a degree-6 polynomial
/// for `e^r` and the exponent bits for `2^n` (Cephes' expf, ~2 ulp). Shared by the decoding loop
/// (log-softmax and sampling over the vocabulary) and the BLAS backend's `VectorMath`.
public enum SIMDExp {
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        typealias F8 = SIMD8<Float>
        var x = x.clamped(lowerBound: F8(repeating: -88.3762626647949), upperBound: F8(repeating: 88.3762626647949))
        // fx = floor(x·log2(e) + 0.5); written as x + x·(log2e - 1) + 0.5 to stay in FMAs.
        let fx = x.addingProduct(x, F8(repeating: 0.44269504088896341))
            .addingProduct(F8(repeating: 1), F8(repeating: 0.5)).rounded(.down)
        x = x.addingProduct(fx, F8(repeating: -0.693359375))
        x = x.addingProduct(fx, F8(repeating: 2.12194440e-4))
        let z = x * x
        var y = F8(repeating: 1.9875691500e-4)
        y = F8(repeating: 1.3981999507e-3).addingProduct(y, x)
        y = F8(repeating: 8.3334519073e-3).addingProduct(y, x)
        y = F8(repeating: 4.1665795894e-2).addingProduct(y, x)
        y = F8(repeating: 1.6666665459e-1).addingProduct(y, x)
        y = F8(repeating: 5.0000001201e-1).addingProduct(y, x)
        y = (x + F8(repeating: 1)).addingProduct(y, z)
        // 2^fx: fx + (1.5·2^23 + 127) puts fx + 127 in the low mantissa bits; shift it into the exponent.
        let biased = unsafeBitCast(fx + F8(repeating: 12582912 + 127), to: SIMD8<UInt32>.self)
        let pow2 = unsafeBitCast(biased &<< 23, to: F8.self)
        return y * pow2
    }

    /// `out[i] = e^(x[i] - shift)` for `count` floats, exactly 0 where `x[i]` is -infinity (a banned
    /// token); returns the sum of the results, accumulated in Double. `out` may be nil (sum only).
    @inlinable
    public static func expShifted(_ x: UnsafePointer<Float>, minus shift: Float, into out: UnsafeMutablePointer<Float>?,
                                  count: Int) -> Double {
        let s = SIMD8<Float>(repeating: shift)
        let minusInfinity = SIMD8<Float>(repeating: -.infinity)
        var sum = 0.0
        var i = 0
        while i < count {
            let n = Swift.min(8, count - i)
            var v = minusInfinity
            if n == 8 {
                v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            } else {
                for j in 0..<n { v[j] = x[i + j] }
            }
            let e = exp(v - s).replacing(with: 0, where: v .== minusInfinity)
            if let out {
                if n == 8 {
                    UnsafeMutableRawPointer(out + i).storeBytes(of: e, as: SIMD8<Float>.self)
                } else {
                    for j in 0..<n { out[i + j] = e[j] }
                }
            }
            sum += Double(e.sum())
            i += 8
        }
        return sum
    }
}
