import CBLAS
import KernelSupport

/// Thin, checked wrappers over the two OpenBLAS routines the backend uses. Sizes are checked
/// by the callers to fit `blasint` (Int32); leading dimensions are never 0.
enum OpenBLAS {
    /// `C[m×n] = A[m×k] · B` with `B` `[k×n]` (ldb `n`) or, `transposeB`, `[n×k]` (ldb `k`); row-major.
    /// A single row goes to `sgemv`: OpenBLAS 0.3.21 sends M=1 `sgemm` through its slow general path.
    @inline(__always) static func product(m: Int, n: Int, k: Int,
                                          a: UnsafePointer<Float>, lda: Int,
                                          b: UnsafePointer<Float>, transposeB: Bool,
                                          c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 1 {
            if transposeB {
                // B is [n×k]: y = B·x.
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, b, Int32(k), a, 1, 0, c, 1)
            } else {
                // B is [k×n]: y = Bᵀ·x.
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), 1, b, Int32(n), a, 1, 0, c, 1)
            }
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), 1, a, Int32(lda),
                        b, Int32(transposeB ? k : n), 0, c, Int32(ldc))
        }
    }

    /// Whether every size fits OpenBLAS's 32-bit `blasint`.
    @inline(__always) static func fits(_ a: Int, _ b: Int, _ c: Int) -> Bool {
        let limit = Int(Int32.max)
        return a >= 0 && b >= 0 && c >= 0 && a <= limit && b <= limit && c <= limit
    }

    /// OpenBLAS's build description (version, core, thread model), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    static var config: String {
        guard let c = openblas_get_config() else { return "unknown OpenBLAS build" }
        return String(cString: c)
    }
}
