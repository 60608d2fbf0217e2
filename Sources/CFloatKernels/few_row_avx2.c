// Few-row float products on AVX2 + FMA + F16C (see include/few_row_kernels.h).
//
// The same products as the AVX-512 kernels of float_kernels.c, for CPUs without AVX-512 (Zen 1-3,
// Haswell to Alder Lake), where the BLAS backend used OpenBLAS's sgemv/sgemm for few rows before:
// sgemv streams one weight row after the other (one sequential stream per thread), and sgemm
// packs the weight for every call. With a small L3 (32 MiB on a Zen 3) a decode step's 405 MB of
// fp32 weights come from DRAM, where one stream per core is limited by the misses it keeps in
// flight. These kernels read a block of weight rows at once (IO_STREAMS streams per thread, each
// advancing one panel at a time), prefetch each stream ahead into L1 and, while it fits the L2
// (sized from the CPU's own cache description), the next block's lines into L2. f16 weights are
// widened in registers (F16C), so half the bytes stream from memory.
//
// Compiled with function attributes, only on x86-64; callers check cf_few_row_kernels_for_cpu().

#include "few_row_kernels.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <unistd.h>

#include "float_kernels.h"
#include "k_range.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))

// MARK: - io: w is [K, N]

/// Weight rows read together (one stream each): 16 beat 4, 8 and 32 at 1 and 5 rows on a Zen 3
/// (tools/kernel_bench/few_row_bench.c; DRAM-bound, 2 threads).
#ifndef IO_STREAMS
#define IO_STREAMS 16
#endif
/// Floats ahead of the current panel prefetched into L1 on each weight row.
#ifndef IO_PREFETCH
#define IO_PREFETCH 256
#endif
/// Columns per panel: 4 ymm vectors for one row of x; rows of x in passes of up to 4 over
/// 16-column halves (4 rows x 2 vectors of accumulators + 2 weight vectors + 4 broadcasts fit
/// the 16 registers).
enum { PANEL = 32, PASS_ROWS = 4 };

/// 8 weights at element `index`, widened to f32 when `half`.
AVX2 static inline __attribute__((always_inline)) __m256 load8(const int half, const void *w, int64_t index) {
    if (half) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + index)));
    return _mm256_loadu_ps((const float *)w + index);
}

/// y[0..mr, 0..8*nv) (+)= x[0..mr, i0..i1) * w[i0..i1, 0..8*nv) (`first`: from zero). The
/// prefetches belong to the whole panel and are issued only by its first pass (`fetch`).
AVX2 static inline __attribute__((always_inline)) void
block_io(const int half, const int fetch, const int ahead, const int mr, const int nv, const int first,
         const float *x, int64_t k, int64_t i0, int64_t i1, const void *w, int64_t ldw, float *y, int64_t ldy) {
    __m256 acc[PASS_ROWS][4];
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nv; j++) acc[r][j] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(y + r * ldy + 8 * j);
    const int64_t element = half ? 2 : 4;
    for (int64_t i = i0; i < i1; i++) {
        if (fetch) {
            const char *wr = (const char *)w + i * ldw * element;
            // One prefetch per 64-byte line of this row's panel (past the end of the weight a
            // prefetch reads nothing that matters and never faults).
            for (int64_t b = 0; b < PANEL * element; b += 64) {
                _mm_prefetch(wr + IO_PREFETCH * element + b, _MM_HINT_T0);
                if (ahead) _mm_prefetch(wr + IO_STREAMS * ldw * element + b, _MM_HINT_T1);
            }
        }
        __m256 v[4];
        for (int j = 0; j < nv; j++) v[j] = load8(half, w, i * ldw + 8 * j);
        for (int r = 0; r < mr; r++) {
            const __m256 b = _mm256_broadcast_ss(x + r * k + i);
            for (int j = 0; j < nv; j++) acc[r][j] = _mm256_fmadd_ps(b, v[j], acc[r][j]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nv; j++) _mm256_storeu_ps(y + r * ldy + 8 * j, acc[r][j]);
}

/// Every row of x over one block of weight rows and `nv` vectors of columns (nv = 4: a whole
/// panel; 1: an 8-column tail): one row in one pass; more in passes of PASS_ROWS over halves of
/// the panel, which stays in L1 between passes.
AVX2 static inline __attribute__((always_inline)) void
rows_over_block(const int half, const int ahead, const int nv, const int first, const float *x, int64_t m,
                int64_t k, int64_t i0, int64_t i1, const void *w, int64_t ldw, float *y, int64_t ldy) {
    if (m == 1) {
        if (nv == 4) block_io(half, 1, ahead, 1, 4, first, x, k, i0, i1, w, ldw, y, ldy);
        else block_io(half, 1, ahead, 1, 1, first, x, k, i0, i1, w, ldw, y, ldy);
        return;
    }
    const int width = nv == 4 ? 2 : 1;  // vectors per pass
    for (int h = 0; h < nv; h += width) {
        const char *wh = (const char *)w + 8 * h * (half ? 2 : 4);
        for (int64_t r = 0; r < m; r += PASS_ROWS) {
            const int fetch = h == 0 && r == 0;
            const float *xr = x + r * k;
            float *yr = y + r * ldy + 8 * h;
            switch (m - r >= PASS_ROWS ? PASS_ROWS : (int)(m - r)) {
            case 4:
                if (width == 2) block_io(half, fetch, ahead, 4, 2, first, xr, k, i0, i1, wh, ldw, yr, ldy);
                else block_io(half, fetch, ahead, 4, 1, first, xr, k, i0, i1, wh, ldw, yr, ldy);
                break;
            case 3:
                if (width == 2) block_io(half, fetch, ahead, 3, 2, first, xr, k, i0, i1, wh, ldw, yr, ldy);
                else block_io(half, fetch, ahead, 3, 1, first, xr, k, i0, i1, wh, ldw, yr, ldy);
                break;
            case 2:
                if (width == 2) block_io(half, fetch, ahead, 2, 2, first, xr, k, i0, i1, wh, ldw, yr, ldy);
                else block_io(half, fetch, ahead, 2, 1, first, xr, k, i0, i1, wh, ldw, yr, ldy);
                break;
            default:
                if (width == 2) block_io(half, fetch, ahead, 1, 2, first, xr, k, i0, i1, wh, ldw, yr, ldy);
                else block_io(half, fetch, ahead, 1, 1, first, xr, k, i0, i1, wh, ldw, yr, ldy);
                break;
            }
        }
    }
}

/// Bytes of L2 per core, from the CPU's own description (sysconf, which glibc fills from cpuid
/// or /sys/devices/system/cpu/cpu0/cache); 256 KiB, the smallest of the CPUs with AVX2, when
/// unknown. Read once (a benign race: every thread computes the same value).
static int64_t l2_bytes(void) {
    static int64_t cached = 0;
    if (cached == 0) {
        long size = 0;
#ifdef _SC_LEVEL2_CACHE_SIZE
        size = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
        cached = size > 0 ? size : (256 << 10);
    }
    return cached;
}

AVX2 static inline __attribute__((always_inline)) void
rows_io_range(const int half, const float *x, int64_t m, int64_t k, int64_t k0, int64_t k1,
              const void *w, int64_t ldw, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    if (!k_range_clamp(m, k, &k0, &k1, n0, n1, y, ldy)) return;
    const int64_t element = half ? 2 : 4;
    // Prefetch the next block of rows into L2 only while two blocks' sweeps fit in half of it:
    // past that the prefetched lines are evicted before they are read (the AVX-512 kernels saw
    // the mapper's 7680 columns slow down from 4.1 to 5.5 ms with it).
    const int ahead = 2 * IO_STREAMS * (n1 - n0) * element <= l2_bytes() / 2;
    const int64_t vector_end = n0 + ((n1 - n0) & ~(int64_t)7);
    // Weight-row blocks outermost, then panels: the weight is read once, in order, IO_STREAMS
    // rows at a time.
    for (int64_t i0 = k0; i0 < k1; i0 += IO_STREAMS) {
        const int64_t i1 = i0 + IO_STREAMS < k1 ? i0 + IO_STREAMS : k1;
        const int first = i0 == k0;
        int64_t n = n0;
        for (; n + PANEL <= vector_end; n += PANEL)
            rows_over_block(half, ahead, 4, first, x, m, k, i0, i1, (const char *)w + n * element, ldw, y + n, ldy);
        for (; n < vector_end; n += 8)
            rows_over_block(half, ahead, 1, first, x, m, k, i0, i1, (const char *)w + n * element, ldw, y + n, ldy);
    }
    // Columns past the last multiple of 8 (none in GPT-2 or CLIP): plain C.
    for (int64_t r = 0; r < m; r++)
        for (int64_t n = vector_end; n < n1; n++) {
            float s = 0.0f;
            for (int64_t i = k0; i < k1; i++) {
                const float wv = half ? _cvtsh_ss(((const uint16_t *)w)[i * ldw + n]) : ((const float *)w)[i * ldw + n];
                s += x[r * k + i] * wv;
            }
            y[r * ldy + n] = s;
        }
}

AVX2 static void avx2_f32_rows_io_range(const float *x, int64_t m, int64_t k, int64_t k0, int64_t k1,
                                        const float *w, int64_t ldw, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    rows_io_range(0, x, m, k, k0, k1, w, ldw, n0, n1, y, ldy);
}

AVX2 static void avx2_f16_rows_io_range(const float *x, int64_t m, int64_t k, int64_t k0, int64_t k1,
                                        const uint16_t *w, int64_t ldw, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    rows_io_range(1, x, m, k, k0, k1, w, ldw, n0, n1, y, ldy);
}

AVX2 static void avx2_add_into(float *dst, const float *src, int64_t count) {
    int64_t i = 0;
    for (; i + 8 <= count; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), _mm256_loadu_ps(src + i)));
    for (; i < count; i++) dst[i] += src[i];
}

// MARK: - oi: w is [N, K]

/// {sum(a0), sum(a1), sum(a2), sum(a3)}.
AVX2 static inline __m128 reduce4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/// `mr` rows of x against `nw` contiguous weight rows (output columns), k a multiple of 8:
/// nw streams at once, each prefetched a little ahead into L1 and, into L2, the next tile's
/// rows (nw rows on), so the next tile starts with its weights on chip.
AVX2 static inline __attribute__((always_inline)) void
tile_oi(const int half, const int mr, const int nw, const float *x, int64_t k, const void *w0, float *y, int64_t ldy) {
    const int64_t element = half ? 2 : 4, row = k * element;
    __m256 acc[2][8];
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nw; j++) acc[r][j] = _mm256_setzero_ps();
    for (int64_t i = 0; i < k; i += 8) {
        if ((i * element) % 64 == 0)
            for (int j = 0; j < nw; j++) {
                const char *wj = (const char *)w0 + j * row + i * element;
                _mm_prefetch(wj + IO_PREFETCH * element, _MM_HINT_T0);
                _mm_prefetch(wj + nw * row, _MM_HINT_T1);
            }
        __m256 xv[2];
        for (int r = 0; r < mr; r++) xv[r] = _mm256_loadu_ps(x + r * k + i);
        for (int j = 0; j < nw; j++) {
            const __m256 v = load8(half, (const char *)w0 + j * row, i);
            for (int r = 0; r < mr; r++) acc[r][j] = _mm256_fmadd_ps(xv[r], v, acc[r][j]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nw; j += 4) _mm_storeu_ps(y + r * ldy + j, reduce4(acc[r][j], acc[r][j + 1], acc[r][j + 2], acc[r][j + 3]));
}

AVX2 static inline __attribute__((always_inline)) void
rows_oi(const int half, const float *x, int64_t m, int64_t k, const void *w, int64_t n0, int64_t n1, float *y,
        int64_t ldy) {
    const int64_t row = k * (half ? 2 : 4);
    int64_t n = n0;
    if (k % 8 == 0) {
        // One row of x: 8 weight rows (streams) per tile; more rows: 4 weight rows, rows of x in
        // pairs, the tile staying in L1 between pairs (8 + 2 + 1 registers).
        if (m == 1)
            for (; n + 8 <= n1; n += 8) tile_oi(half, 1, 8, x, k, (const char *)w + n * row, y + n, ldy);
        for (; n + 4 <= n1; n += 4) {
            const char *wt = (const char *)w + n * row;
            int64_t r = 0;
            for (; r + 2 <= m; r += 2) tile_oi(half, 2, 4, x + r * k, k, wt, y + r * ldy + n, ldy);
            if (r < m) tile_oi(half, 1, 4, x + r * k, k, wt, y + r * ldy + n, ldy);
        }
    }
    for (; n < n1; n++)
        for (int64_t r = 0; r < m; r++) {
            float s = 0.0f;
            for (int64_t i = 0; i < k; i++) {
                const float wv = half ? _cvtsh_ss(((const uint16_t *)w)[n * k + i]) : ((const float *)w)[n * k + i];
                s += x[r * k + i] * wv;
            }
            y[r * ldy + n] = s;
        }
}

AVX2 static void avx2_f32_rows_oi(const float *x, int64_t m, int64_t k, const float *w,
                                  int64_t n0, int64_t n1, float *y, int64_t ldy) {
    rows_oi(0, x, m, k, w, n0, n1, y, ldy);
}

AVX2 static void avx2_f16_rows_oi(const float *x, int64_t m, int64_t k, const uint16_t *w,
                                  int64_t n0, int64_t n1, float *y, int64_t ldy) {
    rows_oi(1, x, m, k, w, n0, n1, y, ldy);
}

const CFFewRowKernels cf_few_row_kernels_avx2 = {
    .name = "avx2",
    .f32_rows_io_range = avx2_f32_rows_io_range,
    .f16_rows_io_range = avx2_f16_rows_io_range,
    .f32_rows_oi = avx2_f32_rows_oi,
    .f16_rows_oi = avx2_f16_rows_oi,
    .add_into = avx2_add_into,
};

#endif // __x86_64__
