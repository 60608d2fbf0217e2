// Many-row products with f32 or f16 `io` weights on AVX-512 (see include/float_kernels.h).
//
// CLIP's linears have 50 rows per image: compute-bound, but OpenBLAS reads every weight from
// memory while it packs it, and that read is not overlapped with its arithmetic (measured: a
// 768x3072 fc1 runs at ~127 GFLOP/s in the encoder against ~199 with the weight already in
// cache). Here each 32-column panel of the weight is widened to f32 into a small packed buffer
// and used by every row tile; the panel two steps ahead is prefetched while this one computes,
// so the memory read hides behind the FMAs. f16 weights (OpenAI's CLIP ships in f16) are read
// at half the bytes and never widened in memory.

#include "float_kernels.h"

#include "cpu_features.h"

/// The panel kernel needs AVX-512 F/DQ/VL/BW, which clipcap_cpu_level's AVX-512 level
/// includes (with F16C).
int cf32_panel_gemm_supported(void) { return clipcap_cpu_level() >= CLIPCAP_CPU_AVX512 ? 1 : 0; }

#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,f16c,fma")))

/// Columns per panel: two 16-lane vectors.
#define PANEL 32
/// Rows per micro-tile: 10 rows x 2 vectors = 20 accumulators (CLIP's 50 rows are 5 tiles).
#define TILE_ROWS 10
/// Weight rows per K block: a packed block (256 x 32 floats = 32 KiB) plus a tile's slice of x
/// (10 KiB) stay in the 48 KiB L1 while every row tile uses them.
#define K_BLOCK 256
/// Panels ahead whose weight rows are prefetched while the current panel is packed.
#define PREFETCH_PANELS 2
/// Rows per block of x: the rows whose tiles share one packed panel (x's block stays in L2).
#define ROW_BLOCK 120

/// Lane masks of a panel's two 16-column halves when it has `cols` (1-32) columns.
static inline void panel_masks(int64_t cols, __mmask16 *m0, __mmask16 *m1) {
    *m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1);
    *m1 = cols >= 32 ? (__mmask16)0xFFFF : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
}

/// Widens weight rows [k0, k1) of the panel at column j (the columns the masks m0/m1 select)
/// into pack[(kk - k0) * 32 + c]; masked-off columns are zero. Prefetches the same rows of the
/// panel `PREFETCH_PANELS` ahead (when `pf_cols` > 0).
AVX512 static void pack_panel(const void *w, int f16, int64_t ldw, int64_t k0, int64_t k1, int64_t j,
                              __mmask16 m0, __mmask16 m1, int64_t pf_cols, float *pack) {
    const int64_t pf = j + PREFETCH_PANELS * PANEL;
    if (f16) {
        const uint16_t *h = (const uint16_t *)w;
        for (int64_t kk = k0; kk < k1; kk++) {
            const uint16_t *row = h + kk * ldw + j;
            if (pf_cols > 0) _mm_prefetch((const char *)(h + kk * ldw + pf), _MM_HINT_T1);
            __m256i a = _mm256_maskz_loadu_epi16(m0, row);
            __m256i b = _mm256_maskz_loadu_epi16(m1, row + 16);
            _mm512_store_ps(pack + (kk - k0) * PANEL, _mm512_cvtph_ps(a));
            _mm512_store_ps(pack + (kk - k0) * PANEL + 16, _mm512_cvtph_ps(b));
        }
    } else {
        const float *f = (const float *)w;
        for (int64_t kk = k0; kk < k1; kk++) {
            const float *row = f + kk * ldw + j;
            if (pf_cols > 0) {
                _mm_prefetch((const char *)(f + kk * ldw + pf), _MM_HINT_T1);
                if (pf_cols > 16) _mm_prefetch((const char *)(f + kk * ldw + pf + 16), _MM_HINT_T1);
            }
            _mm512_store_ps(pack + (kk - k0) * PANEL, _mm512_maskz_loadu_ps(m0, row));
            _mm512_store_ps(pack + (kk - k0) * PANEL + 16, _mm512_maskz_loadu_ps(m1, row + 16));
        }
    }
}

/// y[0..mr, 0..cols) (+)= x[0..mr, 0..kb) * pack[0..kb, 0..32): x rows `ldx` apart, y rows `ldy`
/// apart; `first` starts from zero instead of y. Specialised per `mr` by the switch below.
AVX512 static inline __attribute__((always_inline)) void
tile(const int mr, const float *x, int64_t ldx, const float *pack, int64_t kb, float *y, int64_t ldy,
     __mmask16 m0, __mmask16 m1, int first) {
    __m512 lo[TILE_ROWS], hi[TILE_ROWS];
    for (int r = 0; r < mr; r++) {
        if (first) {
            lo[r] = _mm512_setzero_ps();
            hi[r] = _mm512_setzero_ps();
        } else {
            lo[r] = _mm512_maskz_loadu_ps(m0, y + r * ldy);
            hi[r] = _mm512_maskz_loadu_ps(m1, y + r * ldy + 16);
        }
    }
    for (int64_t kk = 0; kk < kb; kk++) {
        const __m512 b0 = _mm512_load_ps(pack + kk * PANEL);
        const __m512 b1 = _mm512_load_ps(pack + kk * PANEL + 16);
        for (int r = 0; r < mr; r++) {
            const __m512 a = _mm512_set1_ps(x[r * ldx + kk]);
            lo[r] = _mm512_fmadd_ps(a, b0, lo[r]);
            hi[r] = _mm512_fmadd_ps(a, b1, hi[r]);
        }
    }
    for (int r = 0; r < mr; r++) {
        _mm512_mask_storeu_ps(y + r * ldy, m0, lo[r]);
        _mm512_mask_storeu_ps(y + r * ldy + 16, m1, hi[r]);
    }
}

AVX512 static void tile_any(int mr, const float *x, int64_t ldx, const float *pack, int64_t kb, float *y,
                            int64_t ldy, __mmask16 m0, __mmask16 m1, int first) {
    switch (mr) {
    case 10: tile(10, x, ldx, pack, kb, y, ldy, m0, m1, first); break;
    case 9: tile(9, x, ldx, pack, kb, y, ldy, m0, m1, first); break;
    case 8: tile(8, x, ldx, pack, kb, y, ldy, m0, m1, first); break;
    case 7: tile(7, x, ldx, pack, kb, y, ldy, m0, m1, first); break;
    case 6: tile(6, x, ldx, pack, kb, y, ldy, m0, m1, first); break;
    case 5: tile(5, x, ldx, pack, kb, y, ldy, m0, m1, first); break;
    case 4: tile(4, x, ldx, pack, kb, y, ldy, m0, m1, first); break;
    case 3: tile(3, x, ldx, pack, kb, y, ldy, m0, m1, first); break;
    case 2: tile(2, x, ldx, pack, kb, y, ldy, m0, m1, first); break;
    default: tile(1, x, ldx, pack, kb, y, ldy, m0, m1, first); break;
    }
}

AVX512 static void panel_gemm(const float *x, int64_t m, int64_t k, const void *w, int f16, int64_t ldw,
                              int64_t n0, int64_t n1, float *y, int64_t ldy, float *pack) {
    for (int64_t r0 = 0; r0 < m; r0 += ROW_BLOCK) {
        const int64_t rows = m - r0 < ROW_BLOCK ? m - r0 : ROW_BLOCK;
        for (int64_t j = n0; j < n1; j += PANEL) {
            const int64_t cols = n1 - j < PANEL ? n1 - j : PANEL;
            const int64_t ahead = n1 - (j + PREFETCH_PANELS * PANEL);
            __mmask16 m0, m1;
            panel_masks(cols, &m0, &m1);
            for (int64_t k0 = 0; k0 < k; k0 += K_BLOCK) {
                const int64_t kb = k - k0 < K_BLOCK ? k - k0 : K_BLOCK;
                pack_panel(w, f16, ldw, k0, k0 + kb, j, m0, m1, ahead, pack);
                for (int64_t t = 0; t < rows; t += TILE_ROWS) {
                    const int mr = (int)(rows - t < TILE_ROWS ? rows - t : TILE_ROWS);
                    tile_any(mr, x + (r0 + t) * k + k0, k, pack, kb, y + (r0 + t) * ldy + j, ldy, m0, m1, k0 == 0);
                }
            }
        }
    }
}

void cf32_panel_gemm_io(const float *x, int64_t m, int64_t k, const void *w, int w_is_f16, int64_t ldw,
                        int64_t n0, int64_t n1, float *y, int64_t ldy, float *pack) {
    if (m <= 0 || n1 <= n0) return;
    if (k <= 0) {
        for (int64_t r = 0; r < m; r++) memset(y + r * ldy + n0, 0, (size_t)(n1 - n0) * sizeof(float));
        return;
    }
    panel_gemm(x, m, k, w, w_is_f16 ? 1 : 0, ldw, n0, n1, y, ldy, pack);
}

#endif // __x86_64__
