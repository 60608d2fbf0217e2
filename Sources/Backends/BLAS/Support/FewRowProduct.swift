import CFloatKernels
import Engine
import Foundation
import KernelSupport

/// Products of a few rows (one image's decode step, the seed loop's candidates, the prefix
/// prefill) on the few-row kernels of `CFloatKernels`, which read each weight element once for
/// all rows: AVX-512 where the CPU has it, AVX2 + FMA + F16C otherwise
/// (`cf_few_row_kernels_for_cpu`). OpenBLAS packs both operands per `sgemm` call, so 5 rows cost
/// ~4x one there; here they cost about the same as one (the weight stream from memory is the
/// bound). Work is split over the session's pool.
enum FewRowProduct {
    /// This CPU's kernel set (nil: neither AVX-512 nor AVX2 + FMA + F16C; OpenBLAS does the
    /// products).
    static let kernels: Kernels? = cf_few_row_kernels_for_cpu().flatMap { Kernels($0.pointee) }

    /// Rows handled here. Single rows only where the panel kernel also takes the larger
    /// products off OpenBLAS (AVX-512 today): there the session's pool threads stay awake
    /// between a step's kernels (`BLASBackend.poolWatchesForWork`) and stream the weights faster
    /// than OpenBLAS's `sgemv` with its own threads (measured 14.1 vs 22-25 ms per greedy token
    /// on the full model). Without the panel kernel (AVX2) the pool sleeps between kernels and a
    /// single row pays a wake-up per product: `sgemv` is faster there (Zen 3, quiet: 15.5 vs
    /// 17-22 ms per token), while 2-16 rows still gain (prefill 28-31 vs 57-67 ms). Larger
    /// batches go to the panel kernel or `sgemm`. `CLIPCAP_BLAS_FEW_ROWS=0` turns the kernels
    /// off, `=1` / `=2` force single rows here / to `sgemv` (to compare).
    static let rowRange: ClosedRange<Int>? = {
        guard kernels != nil else { return nil }
        let env = ProcessInfo.processInfo.environment
        let upper = env["CLIPCAP_BLAS_FEW_ROWS_MAX"].flatMap(Int.init) ?? Int(CF32_MAX_ROWS)
        switch env["CLIPCAP_BLAS_FEW_ROWS"] {
        case "0": return nil
        case "1": return 1...max(1, upper)
        case "2": return 2...max(2, upper)
        default:
            let lower = PanelProduct.usedForF32 ? 1 : 2
            return lower...max(lower, upper)
        }
    }()

    /// Whether this CPU has the kernels (`productHalf` needs them whatever `rowRange` says).
    static let available = kernels != nil

    /// The entry points of one `CFFewRowKernels` set, unwrapped once.
    struct Kernels: Sendable {
        let name: String
        let f32RowsIORange: @convention(c) (UnsafePointer<Float>?, Int64, Int64, Int64, Int64, UnsafePointer<Float>?,
                                            Int64, Int64, Int64, UnsafeMutablePointer<Float>?, Int64) -> Void
        let f16RowsIORange: @convention(c) (UnsafePointer<Float>?, Int64, Int64, Int64, Int64, UnsafePointer<UInt16>?,
                                            Int64, Int64, Int64, UnsafeMutablePointer<Float>?, Int64) -> Void
        let f32RowsOI: @convention(c) (UnsafePointer<Float>?, Int64, Int64, UnsafePointer<Float>?, Int64, Int64,
                                       UnsafeMutablePointer<Float>?, Int64) -> Void
        let f16RowsOI: @convention(c) (UnsafePointer<Float>?, Int64, Int64, UnsafePointer<UInt16>?, Int64, Int64,
                                       UnsafeMutablePointer<Float>?, Int64) -> Void
        let addInto: @convention(c) (UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, Int64) -> Void

        init?(_ set: CFFewRowKernels) {
            guard let name = set.name, let io32 = set.f32_rows_io_range, let io16 = set.f16_rows_io_range,
                  let oi32 = set.f32_rows_oi, let oi16 = set.f16_rows_oi, let add = set.add_into else { return nil }
            self.name = String(cString: name)
            (f32RowsIORange, f16RowsIORange, f32RowsOI, f16RowsOI, addInto) = (io32, io16, oi32, oi16, add)
        }
    }

    /// Whether `rows` goes to these kernels on this CPU.
    @inline(__always) static func handles(rows: Int) -> Bool {
        rowRange?.contains(rows) ?? false
    }

    /// `C[m×n] = A[m×k] · B`, B `[k×n]` or (`transposeB`) `[n×k]`; C has row stride n.
    static func product(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                        transposeB: Bool, c: UnsafeMutablePointer<Float>, context: ExecutionContext) {
        guard let kernels else { preconditionFailure("FewRowProduct used on a CPU without its kernels") }
        let pool = context.pool
        let (m64, k64, n64) = (Int64(m), Int64(k), Int64(n))
        let parallel = pool.threads > 1 && m * n * k >= (1 << 18)
        if transposeB {
            splitColumns(n: n, pool: pool, parallel: parallel) { n0, n1 in
                kernels.f32RowsOI(a, m64, k64, b, n0, n1, c, n64)
            }
            return
        }
        splitWeightRows(m: m, n: n, k: k, c: c, context: context, parallel: parallel, kernels: kernels) { k0, k1, y in
            kernels.f32RowsIORange(a, m64, k64, k0, k1, b, n64, 0, n64, y, n64)
        }
    }

    /// `C[m×n] = A[m×k] · B` for an `f16` weight read in place from the model file, B `[k×n]`
    /// or (`transposeB`) `[n×k]`: widened in registers, so half the bytes stream from memory
    /// (the bound at these row counts). `oi` products of more than `CF32_MAX_ROWS` rows run in
    /// passes of that many (each pass reads the weight again; `io` ones go to the panel kernel).
    static func productHalf(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<UInt16>,
                            transposeB: Bool, c: UnsafeMutablePointer<Float>, context: ExecutionContext) {
        guard let kernels else { preconditionFailure("FewRowProduct used on a CPU without its kernels") }
        let (k64, n64) = (Int64(k), Int64(n))
        let parallel = context.pool.threads > 1 && m * n * k >= (1 << 18)
        if transposeB {
            let pass = Int(CF32_MAX_ROWS)
            for r0 in stride(from: 0, to: m, by: pass) {
                let rows = Int64(min(pass, m - r0))
                splitColumns(n: n, pool: context.pool, parallel: parallel) { n0, n1 in
                    kernels.f16RowsOI(a + r0 * k, rows, k64, b, n0, n1, c + r0 * n, n64)
                }
            }
            return
        }
        let m64 = Int64(m)
        splitWeightRows(m: m, n: n, k: k, c: c, context: context, parallel: parallel, kernels: kernels) { k0, k1, y in
            kernels.f16RowsIORange(a, m64, k64, k0, k1, b, n64, 0, n64, y, n64)
        }
    }

    /// Runs an `oi` product split over the output columns: every output column reads one
    /// contiguous weight row; 4-column tiles, two chunks per thread so that a busy core does not
    /// hold the others up. `columns(n0, n1)` computes columns [n0, n1).
    private static func splitColumns(n: Int, pool: ThreadPool, parallel: Bool, _ columns: (Int64, Int64) -> Void) {
        let tiles = (n + 3) / 4
        let chunks = parallel ? min(tiles, pool.threads * 2) : 1
        if chunks == 1 { return columns(0, Int64(n)) }
        let per = (tiles + chunks - 1) / chunks * 4
        pool.parallelFor(chunks) { chunk in
            let n0 = min(n, chunk * per), n1 = min(n, n0 + per)
            if n0 < n1 { columns(Int64(n0), Int64(n1)) }
        }
    }

    /// Runs an `io` product split over the weight's rows (k), so each thread streams one
    /// contiguous slice (split columns, each thread would read a short piece of every row, which
    /// the prefetchers follow badly: measured 13 GB/s against ~24). `slice(k0, k1, y)` computes
    /// the partial product over weight rows [k0, k1) into y (row stride n); the partial sums go
    /// to scratch and are added up.
    private static func splitWeightRows(m: Int, n: Int, k: Int, c: UnsafeMutablePointer<Float>,
                                        context: ExecutionContext, parallel: Bool, kernels: Kernels,
                                        _ slice: (Int64, Int64, UnsafeMutablePointer<Float>) -> Void) {
        let pool = context.pool
        let parts = parallel ? min(pool.threads, max(1, k / 64)) : 1
        if parts == 1 {
            slice(0, Int64(k), c)
            return
        }
        let rows = (k + parts - 1) / parts
        let partials = context.scratch(bytes: (parts - 1) * m * n * 4).assumingMemoryBound(to: Float.self)
        pool.parallelFor(parts) { part in
            let k0 = part * rows, k1 = min(k, k0 + rows)
            slice(Int64(k0), Int64(k1), part == 0 ? c : partials + (part - 1) * m * n)
        }
        for part in 1..<parts { kernels.addInto(c, partials + (part - 1) * m * n, Int64(m * n)) }
    }
}
