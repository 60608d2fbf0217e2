import NaiveBackend

/// The BLAS backend's vectorised activations, for other backends' epilogues (the int8 kernels
/// write pre-activation floats and finish them here: C's scalar `tanhf`/`expf` per element cost
/// more than the int8 products of a whole CLIP MLP).
public enum VectorActivation {
    /// Applies `activation` in place to `rows` rows of `count` floats, `stride` floats apart.
    public static func apply(_ activation: LinearActivation, _ base: UnsafeMutablePointer<Float>,
                             rows: Int, count: Int, stride: Int) {
        // One specialised loop per activation: the switch stays out of the inner loop.
        switch activation {
        case .none: return
        case .relu: each(base, rows, count, stride) { VectorMath.activate($0, .relu) }
        case .tanh: each(base, rows, count, stride) { VectorMath.tanh($0) }
        case .quickGelu: each(base, rows, count, stride) { VectorMath.activate($0, .quickGelu) }
        case .geluTanh: each(base, rows, count, stride) { VectorMath.activate($0, .geluTanh) }
        case .geluErf: each(base, rows, count, stride) { VectorMath.activate($0, .geluErf) }
        }
    }

    @inline(__always) private static func each(_ base: UnsafeMutablePointer<Float>, _ rows: Int, _ count: Int,
                                               _ stride: Int, _ f: (F8) -> F8) {
        for r in 0..<rows {
            let row = base + r * stride
            RowOps.map(row, row, count, f)
        }
    }
}
