import CVectorKernels

/// Vectorised activations for the fast backends' epilogues (the int8 kernels
/// write pre-activation floats and finish them here: C's scalar `tanhf`/`expf` per element cost
/// more than the int8 products of a whole CLIP MLP).
public enum VectorActivation {
    /// Applies `activation` in place to `rows` rows of `count` floats, `stride` floats apart.
    public static func apply(_ activation: LinearActivation, _ base: UnsafeMutablePointer<Float>,
                             rows: Int, count: Int, stride: Int) {
        guard activation != .none else { return }
        cvk_activation_rows(activation.vectorKernelCode, 0, base, Int64(stride), nil, base, Int64(stride),
                            Int64(rows), Int64(count))
    }
}
