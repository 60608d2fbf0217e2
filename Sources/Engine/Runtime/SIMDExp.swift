import CVectorKernels

/// The shifted exponentials of the decoding loop (log-softmax and sampling over the
/// vocabulary), on `cvk_exp_shifted`: a Cephes `expf` polynomial (~2 ulp) compiled for the CPU's
/// vector width at run time (CVectorKernels; the BLAS backend's softmax and activations use
/// the same code).
public enum SIMDExp {
    /// `out[i] = e^(x[i] - shift)` for `count` floats, exactly 0 where `x[i]` is -infinity (a banned
    /// token); returns the sum of the results, accumulated in Double. `out` may be nil (sum only)
    /// or equal to `x`.
    public static func expShifted(_ x: UnsafePointer<Float>, minus shift: Float, into out: UnsafeMutablePointer<Float>?,
                                  count: Int) -> Double {
        guard count > 0 else { return 0 }
        return cvk_exp_shifted(x, shift, out, Int64(count))
    }
}
