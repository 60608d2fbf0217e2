// Few-row float products on AVX-512 (see include/float_kernels.h).
//
// Compiled for AVX-512 with function attributes, and only on x86-64 (float_portable.c has
// the other architectures' versions); the Swift caller checks cf32_uses_avx512() and uses
// OpenBLAS otherwise.

#include "float_kernels.h"
#include "k_range.h"

#include "cpu_features.h"

int cf32_uses_avx512(void) { return clipcap_cpu_level() >= CLIPCAP_CPU_AVX512 ? 1 : 0; }

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma")))

// MARK: - io: w is [K, N]

/// Weight rows per block (measured: 32 beats 4, 8, 16 and 64). The columns are swept block by block: each block reads IO_K_BLOCK
/// weight rows left to right at once (sequential streams the hardware prefetcher follows),
/// and the running sums live in y (L1/L2) between blocks.
#define IO_K_BLOCK 32
/// Floats ahead (two panels) of each weight row prefetched into L1. 256 was best of 0, 128, 256
/// when single rows still went to sgemv; with 5 rows 128 was faster in 5 of 5 paired runs of the
/// 48 GPT-2 matrices (by 2-12%; equal at one row).
#define CF32_IO_PREFETCH 128
/// Rows of x per pass (accumulators: rows x 4 vectors <= 24 of the 32 registers).
#define IO_ROWS 6

/// 16 weights from `w` (f32, or f16 when `half`) at element `index`, widened to f32; `mask`
/// selects the lanes read (the others are 0 and never touched in memory).
AVX512 static inline __attribute__((always_inline)) __m512
load_weights(const int half, const void *w, int64_t index, const int masked, const __mmask16 mask) {
    if (half) {
        const uint16_t *p = (const uint16_t *)w + index;
        const __m256i h = masked ? _mm256_maskz_loadu_epi16(mask, p) : _mm256_loadu_si256((const __m256i *)p);
        return _mm512_cvtph_ps(h);
    }
    const float *p = (const float *)w + index;
    return masked ? _mm512_maskz_loadu_ps(mask, p) : _mm512_loadu_ps(p);
}

/// y[0..mr, 0..16*nv) (+)= x[0..mr, i0..i1) * w[i0..i1, 0..16*nv); the last vector is masked by
/// `last`. `first`: start from zero instead of y. `half`: w holds f16 (widened in registers, so
/// half the bytes stream from memory).
AVX512 static inline __attribute__((always_inline)) void
block_io(const int half, const int ahead, const int mr, const int nv, const __mmask16 last, const int first,
         const float *x, int64_t k, int64_t i0, int64_t i1, const void *w, int64_t ldw, float *y, int64_t ldy) {
    __m512 acc[IO_ROWS][4];
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nv; j++) {
            if (first) acc[r][j] = _mm512_setzero_ps();
            else if (j == nv - 1) acc[r][j] = _mm512_maskz_loadu_ps(last, y + r * ldy + 16 * j);
            else acc[r][j] = _mm512_loadu_ps(y + r * ldy + 16 * j);
        }
    const int64_t element = half ? 2 : 4;
    for (int64_t i = i0; i < i1; i++) {
        const char *wr = (const char *)w + i * ldw * element;
        // One prefetch per 64-byte line of this row's panel: into L1 CF32_IO_PREFETCH elements
        // ahead on the row, and (`ahead`) into L2 the same columns one block of rows down, where
        // the next block's sweep will read them (past the end of the weight a prefetch reads
        // nothing that matters and never faults). The second one measured 28.2 -> 30.5 GB/s at
        // 5 rows, 31.3 -> 32.3 at one (48 GPT-2 matrices, 2 threads).
        for (int j = 0; j < nv; j += half ? 2 : 1) {
            _mm_prefetch(wr + (CF32_IO_PREFETCH + 16 * j) * element, _MM_HINT_T0);
            if (ahead) _mm_prefetch(wr + (IO_K_BLOCK * ldw + 16 * j) * element, _MM_HINT_T1);
        }
        __m512 v[4];
        for (int j = 0; j < nv; j++)
            v[j] = load_weights(half, w, i * ldw + 16 * j, j == nv - 1, last);
        for (int r = 0; r < mr; r++) {
            const __m512 b = _mm512_set1_ps(x[r * k + i]);
            for (int j = 0; j < nv; j++) acc[r][j] = _mm512_fmadd_ps(b, v[j], acc[r][j]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nv; j++) {
            if (j == nv - 1) _mm512_mask_storeu_ps(y + r * ldy + 16 * j, last, acc[r][j]);
            else _mm512_storeu_ps(y + r * ldy + 16 * j, acc[r][j]);
        }
}

/// Every row of x over one block of weight rows and one panel: passes of at most IO_ROWS rows,
/// the panel (IO_K_BLOCK rows x 64 columns, 4 KiB) staying in L1 between passes.
AVX512 static inline __attribute__((always_inline)) void
rows_over_block(const int half, const int ahead, const int nv, const __mmask16 last, const int first, const float *x,
                int64_t m, int64_t k, int64_t i0, int64_t i1, const void *w, int64_t ldw, float *y, int64_t ldy) {
    int64_t r = 0;
    for (; r + IO_ROWS <= m; r += IO_ROWS)
        block_io(half, ahead, IO_ROWS, nv, last, first, x + r * k, k, i0, i1, w, ldw, y + r * ldy, ldy);
    switch (m - r) {
    case 5: block_io(half, ahead, 5, nv, last, first, x + r * k, k, i0, i1, w, ldw, y + r * ldy, ldy); break;
    case 4: block_io(half, ahead, 4, nv, last, first, x + r * k, k, i0, i1, w, ldw, y + r * ldy, ldy); break;
    case 3: block_io(half, ahead, 3, nv, last, first, x + r * k, k, i0, i1, w, ldw, y + r * ldy, ldy); break;
    case 2: block_io(half, ahead, 2, nv, last, first, x + r * k, k, i0, i1, w, ldw, y + r * ldy, ldy); break;
    case 1: block_io(half, ahead, 1, nv, last, first, x + r * k, k, i0, i1, w, ldw, y + r * ldy, ldy); break;
    default: break;
    }
}

/// cf32_rows_io_range / cf16_rows_io_range, for weights of either width.
AVX512 static inline __attribute__((always_inline)) void
rows_io_range(const int half, const float *x, int64_t m, int64_t k, int64_t k0, int64_t k1,
              const void *w, int64_t ldw, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    if (!k_range_clamp(m, k, &k0, &k1, n0, n1, y, ldy)) return;
    const int64_t element = half ? 2 : 4;
    // Prefetch the next block into L2 only while a block's sweep (this block and the next
    // together) fits in it comfortably (GPT-2's widest, 3072 f32 columns, is 393 KB): with the
    // mapper's 7680 columns (983 KB) it evicted what it fetched and the product slowed from
    // 4.1 to 5.5 ms; at f16 (491 KB) from 2.1 to 2.3.
    const int ahead = IO_K_BLOCK * (n1 - n0) * element <= (400 << 10);
    // Weight-row blocks outermost, then 64-column panels: the weight is read once, in order.
    for (int64_t i0 = k0; i0 < k1; i0 += IO_K_BLOCK) {
        const int64_t i1 = i0 + IO_K_BLOCK < k1 ? i0 + IO_K_BLOCK : k1;
        const int first = i0 == k0;
        int64_t n = n0;
        for (; n + 64 <= n1; n += 64)
            rows_over_block(half, ahead, 4, 0xFFFF, first, x, m, k, i0, i1, (const char *)w + n * element, ldw, y + n, ldy);
        for (; n < n1; n += 16) {
            const int64_t left = n1 - n;
            const __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            rows_over_block(half, ahead, 1, mask, first, x, m, k, i0, i1, (const char *)w + n * element, ldw, y + n, ldy);
        }
    }
}

AVX512 void cf32_rows_io_range(const float *x, int64_t m, int64_t k, int64_t k0, int64_t k1,
                               const float *w, int64_t ldw, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    rows_io_range(0, x, m, k, k0, k1, w, ldw, n0, n1, y, ldy);
}

AVX512 void cf16_rows_io_range(const float *x, int64_t m, int64_t k, int64_t k0, int64_t k1,
                               const uint16_t *w, int64_t ldw, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    rows_io_range(1, x, m, k, k0, k1, w, ldw, n0, n1, y, ldy);
}

AVX512 void cf32_add_into(float *dst, const float *src, int64_t count) {
    int64_t i = 0;
    for (; i + 16 <= count; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_loadu_ps(dst + i), _mm512_loadu_ps(src + i)));
    for (; i < count; i++) dst[i] += src[i];
}

// MARK: - oi: w is [N, K]

#define OI_ROWS 5

/// Four horizontal sums at once: {sum(a0), sum(a1), sum(a2), sum(a3)}.
AVX512 static inline __m128 reduce4_ps(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
    const __m256 s0 = _mm256_add_ps(_mm512_castps512_ps256(a0), _mm512_extractf32x8_ps(a0, 1));
    const __m256 s1 = _mm256_add_ps(_mm512_castps512_ps256(a1), _mm512_extractf32x8_ps(a1, 1));
    const __m256 s2 = _mm256_add_ps(_mm512_castps512_ps256(a2), _mm512_extractf32x8_ps(a2, 1));
    const __m256 s3 = _mm256_add_ps(_mm512_castps512_ps256(a3), _mm512_extractf32x8_ps(a3, 1));
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(s0, s1), _mm256_hadd_ps(s2, s3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/// `mr` rows of x against four contiguous weight rows (four output columns); `half`: the
/// weight rows hold f16.
AVX512 static inline __attribute__((always_inline)) void
tile_oi(const int half, const int mr, const float *x, int64_t k, const void *w0, float *y, int64_t ldy) {
    const int64_t row = k * (half ? 2 : 4);
    const char *w[4] = {(const char *)w0, (const char *)w0 + row, (const char *)w0 + 2 * row, (const char *)w0 + 3 * row};
    __m512 acc[OI_ROWS][4];
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < 4; j++) acc[r][j] = _mm512_setzero_ps();
    for (int64_t i = 0; i < k; i += 16) {
        const __mmask16 mask = (k - i >= 16) ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - i)) - 1);
        // Into L1 a little ahead on each row, and into L2 the same columns of the next tile's
        // rows (4 rows on): the next tile starts with its weights on chip. Measured on the
        // 21128x768 LM head, 2 threads: 5 rows 25 -> 30.5 GB/s, 1 row 29 -> 32.8.
        for (int j = 0; j < 4; j++) {
            _mm_prefetch(w[j] + (i + 256) * (half ? 2 : 4), _MM_HINT_T0);
            _mm_prefetch(w[j] + 4 * row + i * (half ? 2 : 4), _MM_HINT_T1);
        }
        __m512 v[4];
        for (int j = 0; j < 4; j++) v[j] = load_weights(half, w[j], i, 1, mask);
        for (int r = 0; r < mr; r++) {
            const __m512 xv = _mm512_maskz_loadu_ps(mask, x + r * k + i);
            for (int j = 0; j < 4; j++) acc[r][j] = _mm512_fmadd_ps(xv, v[j], acc[r][j]);
        }
    }
    for (int r = 0; r < mr; r++) _mm_storeu_ps(y + r * ldy, reduce4_ps(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
}

AVX512 static inline __attribute__((always_inline)) float dot_ps(const int half, const float *a, const void *b, int64_t k) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < k; i += 16) {
        const __mmask16 mask = (k - i >= 16) ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - i)) - 1);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i), load_weights(half, b, i, 1, mask), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/// cf32_rows_oi / cf16_rows_oi, for weights of either width.
AVX512 static inline __attribute__((always_inline)) void
rows_oi(const int half, const float *x, int64_t m, int64_t k, const void *w, int64_t n0, int64_t n1, float *y,
        int64_t ldy) {
    const int64_t row = k * (half ? 2 : 4);
    int64_t n = n0;
    // Weight tiles outermost: four weight rows stay in L1 while every row of x passes over them.
    for (; n + 4 <= n1; n += 4) {
        const char *wt = (const char *)w + n * row;
        int64_t r = 0;
        for (; r + OI_ROWS <= m; r += OI_ROWS) tile_oi(half, OI_ROWS, x + r * k, k, wt, y + r * ldy + n, ldy);
        switch (m - r) {
        case 4: tile_oi(half, 4, x + r * k, k, wt, y + r * ldy + n, ldy); break;
        case 3: tile_oi(half, 3, x + r * k, k, wt, y + r * ldy + n, ldy); break;
        case 2: tile_oi(half, 2, x + r * k, k, wt, y + r * ldy + n, ldy); break;
        case 1: tile_oi(half, 1, x + r * k, k, wt, y + r * ldy + n, ldy); break;
        default: break;
        }
    }
    for (; n < n1; n++)
        for (int64_t r = 0; r < m; r++) y[r * ldy + n] = dot_ps(half, x + r * k, (const char *)w + n * row, k);
}

AVX512 void cf32_rows_oi(const float *x, int64_t m, int64_t k, const float *w,
                         int64_t n0, int64_t n1, float *y, int64_t ldy) {
    rows_oi(0, x, m, k, w, n0, n1, y, ldy);
}

AVX512 void cf16_rows_oi(const float *x, int64_t m, int64_t k, const uint16_t *w,
                         int64_t n0, int64_t n1, float *y, int64_t ldy) {
    rows_oi(1, x, m, k, w, n0, n1, y, ldy);
}

// MARK: - attention

/// e^x, 16 lanes: the same range reduction and degree-6 polynomial as the Swift VectorMath.exp
/// (~2 ulp), so both attention paths agree to float rounding.
AVX512 static inline __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-88.3762626647949f)), _mm512_set1_ps(88.3762626647949f));
    __m512 fx = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f));
    fx = _mm512_roundscale_ps(fx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    x = _mm512_fmadd_ps(fx, _mm512_set1_ps(-0.693359375f), x);
    x = _mm512_fmadd_ps(fx, _mm512_set1_ps(2.12194440e-4f), x);
    const __m512 z = _mm512_mul_ps(x, x);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, z, _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

/// One query row: scores against `visible` keys (four at a time), softmax, weighted sum of values.
AVX512 static inline __attribute__((always_inline)) void
attend_row(const int nv, const float *qi, const float *k, const float *v, float *o, int64_t visible,
           int64_t model, float scale, float *scores) {
    __m512 qv[8];
    for (int t = 0; t < nv; t++) qv[t] = _mm512_mul_ps(_mm512_loadu_ps(qi + 16 * t), _mm512_set1_ps(scale));
    int64_t j = 0;
    for (; j + 4 <= visible; j += 4) {
        const float *k0 = k + j * model, *k1 = k0 + model, *k2 = k1 + model, *k3 = k2 + model;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int t = 0; t < nv; t++) {
            a0 = _mm512_fmadd_ps(qv[t], _mm512_loadu_ps(k0 + 16 * t), a0);
            a1 = _mm512_fmadd_ps(qv[t], _mm512_loadu_ps(k1 + 16 * t), a1);
            a2 = _mm512_fmadd_ps(qv[t], _mm512_loadu_ps(k2 + 16 * t), a2);
            a3 = _mm512_fmadd_ps(qv[t], _mm512_loadu_ps(k3 + 16 * t), a3);
        }
        _mm_storeu_ps(scores + j, reduce4_ps(a0, a1, a2, a3));
    }
    for (; j < visible; j++) {
        __m512 a = _mm512_setzero_ps();
        for (int t = 0; t < nv; t++) a = _mm512_fmadd_ps(qv[t], _mm512_loadu_ps(k + j * model + 16 * t), a);
        scores[j] = _mm512_reduce_add_ps(a);
    }
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (j = 0; j < visible; j += 16) {
        const __mmask16 m = visible - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (visible - j)) - 1);
        mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, scores + j));
    }
    const __m512 top = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (j = 0; j < visible; j += 16) {
        const __mmask16 m = visible - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (visible - j)) - 1);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, scores + j), top));
        _mm512_mask_storeu_ps(scores + j, m, e);
        sum = _mm512_mask_add_ps(sum, m, sum, e);
    }
    const float inv = 1.0f / _mm512_reduce_add_ps(sum);
    __m512 ov[8];
    for (int t = 0; t < nv; t++) ov[t] = _mm512_setzero_ps();
    for (j = 0; j < visible; j++) {
        const __m512 p = _mm512_set1_ps(scores[j]);
        const float *vj = v + j * model;
        for (int t = 0; t < nv; t++) ov[t] = _mm512_fmadd_ps(p, _mm512_loadu_ps(vj + 16 * t), ov[t]);
    }
    const __m512 iv = _mm512_set1_ps(inv);
    for (int t = 0; t < nv; t++) _mm512_storeu_ps(o + 16 * t, _mm512_mul_ps(ov[t], iv));
}

AVX512 void cf32_attention_head(const float *q, const float *k, const float *v, float *out,
                                int64_t queries, int64_t keys, int64_t model, int64_t head_dim,
                                float scale, int causal, float *scores) {
    const int nv = (int)(head_dim / 16);
    for (int64_t i = 0; i < queries; i++) {
        int64_t visible = keys;
        if (causal) {
            visible = i + keys - queries + 1;
            if (visible > keys) visible = keys;
            if (visible < 0) visible = 0;
        }
        float *o = out + i * model;
        if (visible == 0) {
            for (int64_t d = 0; d < head_dim; d++) o[d] = 0.0f;
            continue;
        }
        const float *qi = q + i * model;
        // head_dim 64 (CLIP and GPT-2) gets its own copy with the loop counts known.
        if (nv == 4) attend_row(4, qi, k, v, o, visible, model, scale, scores);
        else attend_row(nv, qi, k, v, o, visible, model, scale, scores);
    }
}

#endif // __x86_64__
