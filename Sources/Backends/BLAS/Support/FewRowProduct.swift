import CFloatKernels
import Engine
import Foundation

/// Products of a few rows (the batched decode of several candidates) on the AVX-512 kernels of
/// `CFloatKernels`, which read each weight element once for all rows. OpenBLAS packs both
/// operands per `sgemm` call, so 5 rows cost ~4x one there; here they cost about the same as one
/// (the weight stream from memory is the bound). Output columns are split over the session's pool.
enum FewRowProduct {
    /// Rows handled here; single rows stay on `sgemv` (already at the memory bound), larger
    /// batches on `sgemm`. `CLIPCAP_BLAS_FEW_ROWS=0` turns the kernels off (to compare).
    static let rowRange: ClosedRange<Int>? = {
        guard cf32_uses_avx512() != 0 else { return nil }
        switch ProcessInfo.processInfo.environment["CLIPCAP_BLAS_FEW_ROWS"] {
        case "0": return nil
        case "1": return 1...Int(CF32_MAX_ROWS)   // single rows too (to compare with sgemv)
        default: return 2...Int(CF32_MAX_ROWS)
        }
    }()

    /// Whether `rows` goes to these kernels on this CPU.
    @inline(__always) static func handles(rows: Int) -> Bool {
        rowRange?.contains(rows) ?? false
    }

    /// `C[m×n] = A[m×k] · B`, B `[k×n]` or (`transposeB`) `[n×k]`; C has row stride n.
    static func product(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                        transposeB: Bool, c: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        // Column chunks: whole 64-column panels (io) or 4-column tiles (oi), two per thread so a
        // busy core does not hold the others up.
        let granule = transposeB ? 4 : 64
        let granules = (n + granule - 1) / granule
        let chunks = pool.threads <= 1 || m * n * k < (1 << 18) ? 1 : min(granules, pool.threads * 2)
        let per = (granules + chunks - 1) / chunks * granule
        let (m64, k64, n64) = (Int64(m), Int64(k), Int64(n))
        let body: (Int) -> Void = { chunk in
            let n0 = min(n, chunk * per), n1 = min(n, n0 + per)
            if n0 >= n1 { return }
            if transposeB {
                cf32_rows_oi(a, m64, k64, b, Int64(n0), Int64(n1), c, n64)
            } else {
                cf32_rows_io(a, m64, k64, b, n64, Int64(n0), Int64(n1), c, n64)
            }
        }
        if chunks == 1 { body(0) } else { pool.parallelFor(chunks, body) }
    }
}
