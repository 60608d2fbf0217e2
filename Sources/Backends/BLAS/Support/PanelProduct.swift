import CFloatKernels
import Engine
import Foundation
import KernelSupport

/// Many-row products with `io` weights on the AVX-512 panel kernel of `CFloatKernels`
/// (`cf32_panel_gemm_io`): each 32-column panel of the weight is widened into a small packed
/// buffer while the panel two ahead is prefetched, so the weight's trip from memory overlaps the
/// arithmetic (OpenBLAS's packing does not), and `f16` weights are read at half the bytes,
/// straight from the model file. Work is split by columns over the session's pool.
enum PanelProduct {
    /// Whether this CPU has what the kernel needs (AVX-512 F/DQ/VL/BW, F16C).
    static let available: Bool = cf32_panel_gemm_supported() != 0

    /// Whether `f32` weights use the panel kernel for more rows than the few-row kernels take
    /// (the CLIP encoder's 50), instead of `sgemm`. `CLIPCAP_BLAS_PANEL=0` keeps `sgemm` (to
    /// compare); `f16` `io` weights of that many rows always use it where it is available.
    static let usedForF32: Bool = {
        guard available else { return false }
        return ProcessInfo.processInfo.environment["CLIPCAP_BLAS_PANEL"] != "0"
    }()

    /// `C[m×n] = A[m×k] · B` with B `[k×n]` (row stride n), `f32` or (`half`) IEEE `f16`; C has
    /// row stride n.
    static func product(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafeRawPointer, half: Bool,
                        c: UnsafeMutablePointer<Float>, context: ExecutionContext) {
        let pool = context.pool
        let panels = (n + 31) / 32
        // Two column chunks per thread, handed out as threads come free, so a core the host
        // takes away for a moment does not hold the other up; one chunk when the work is small.
        let chunks = pool.threads > 1 && m * n * k >= (1 << 20) ? min(panels, pool.threads * 2) : 1
        let perChunk = (panels + chunks - 1) / chunks * 32
        let packFloats = Int(CF32_PANEL_PACK_FLOATS)
        let packs = context.scratch(bytes: chunks * packFloats * 4).assumingMemoryBound(to: Float.self)
        let (m64, k64, n64) = (Int64(m), Int64(k), Int64(n))
        let body: (Int) -> Void = { chunk in
            let n0 = min(n, chunk * perChunk), n1 = min(n, n0 + perChunk)
            if n0 < n1 {
                cf32_panel_gemm_io(a, m64, k64, b, half ? 1 : 0, n64, Int64(n0), Int64(n1), c, n64,
                                   packs + chunk * packFloats)
            }
        }
        if chunks == 1 { body(0) } else { pool.parallelFor(chunks, body) }
    }
}
