// AVX2 int8 micro-kernels (see include/int8_kernels.h and docs/INT8.md): the ci8_avx2_*
// variants, which int8_dispatch.c calls on CPUs with AVX2 (clipcap_cpu_level()). The whole file
// is compiled for AVX2+FMA through one `#pragma clang attribute` (no compiler flag: the package
// has none) and only on x86-64.
//
// Layout: weights [N, K] int8 row-major, used straight from the memory-mapped model file (no
// repacking: docs/INT8.md shows the unpacked 1x4 / 2x4 tiles already stream at the memory bound
// for M = 1). Activations are quantized per call into [M, K] int8 plus scales.
//
// The dot product of 32 int8 pairs, exactly:
//   s  = vpsignb(w, x)        w with the sign of x (0 where x = 0)
//   p  = vpmaddubsw(|x|, s)   16 x int16: |x|*s pair sums, |.| <= 2*127*127 = 32258 (no saturation)
//   d  = vpmaddwd(p, 1)       8 x int32
// and d is added to an int32 accumulator. |acc| <= K * 127 * 127 fits int32 for K < 133,000.

#include "int8_variants.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>
#include <stddef.h>

#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)

// MARK: - helpers

static inline __attribute__((always_inline)) __m256i dot32(__m256i ax, __m256i x, __m256i w, __m256i ones) {
    const __m256i s = _mm256_sign_epi8(w, x);
    const __m256i p = _mm256_maddubs_epi16(ax, s);
    return _mm256_madd_epi16(p, ones);
}

static inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static inline float hsum_f32(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int32_t dot_scalar(const int8_t *a, const int8_t *b, int64_t n) {
    int32_t acc = 0;
    for (int64_t i = 0; i < n; i++) acc += (int32_t)a[i] * (int32_t)b[i];
    return acc;
}

int32_t ci8_avx2_dot(const int8_t *a, const int8_t *b, int64_t k) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    const int64_t k32 = k & ~(int64_t)31;
    for (int64_t i = 0; i < k32; i += 32) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(a + i));
        const __m256i w = _mm256_loadu_si256((const __m256i *)(b + i));
        acc = _mm256_add_epi32(acc, dot32(_mm256_abs_epi8(x), x, w, ones));
    }
    return hsum_i32(acc) + dot_scalar(a + k32, b + k32, k - k32);
}

// MARK: - activation quantization

/// Quantizes 32 floats with multiplier `inv` into 32 int8 (round to nearest even).
static inline void quantize32(const float *x, __m256 inv, int8_t *q) {
    __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), inv));
    __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), inv));
    __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), inv));
    __m256i d = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), inv));
    // packs work per 128-bit lane: restore element order with one cross-lane permute.
    __m256i ab = _mm256_packs_epi32(a, b);
    __m256i cd = _mm256_packs_epi32(c, d);
    __m256i abcd = _mm256_packs_epi16(ab, cd);
    abcd = _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    // |x * inv| <= 127 (up to rounding), so saturation never produces -128 for finite input.
    abcd = _mm256_max_epi8(abcd, _mm256_set1_epi8(-127));
    _mm256_storeu_si256((__m256i *)q, abcd);
}

float ci8_avx2_quantize_group(const float *xs, int64_t len, int8_t *q) {
    const __m256 signmask = _mm256_set1_ps(-0.0f);
    __m256 vmax = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= len; i += 8) vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(signmask, _mm256_loadu_ps(xs + i)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float amax = _mm_cvtss_f32(m4);
    for (; i < len; i++) { float a = fabsf(xs[i]); if (a > amax) amax = a; }
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    const __m256 vinv = _mm256_set1_ps(inv);
    int64_t j = 0;
    for (; j + 32 <= len; j += 32) quantize32(xs + j, vinv, q + j);
    ci8_quantize_scalar(xs + j, len - j, inv, q + j);
    return amax / 127.0f;
}

// MARK: - per-channel linear

/// One row of activations against four weight rows (the decode case: streams four weight rows
/// at once and prefetches ahead so the hardware keeps several memory requests in flight).
static inline void tile_pc_1x4(const int8_t *x, int64_t k, const int8_t *w0, int32_t acc_out[4]) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int8_t *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    const int64_t k32 = k & ~(int64_t)31;
    for (int64_t i = 0; i < k32; i += 32) {
        _mm_prefetch((const char *)(w0 + i + 512), _MM_HINT_T0);
        _mm_prefetch((const char *)(w1 + i + 512), _MM_HINT_T0);
        _mm_prefetch((const char *)(w2 + i + 512), _MM_HINT_T0);
        _mm_prefetch((const char *)(w3 + i + 512), _MM_HINT_T0);
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(x + i));
        const __m256i ax = _mm256_abs_epi8(xv);
        a0 = _mm256_add_epi32(a0, dot32(ax, xv, _mm256_loadu_si256((const __m256i *)(w0 + i)), ones));
        a1 = _mm256_add_epi32(a1, dot32(ax, xv, _mm256_loadu_si256((const __m256i *)(w1 + i)), ones));
        a2 = _mm256_add_epi32(a2, dot32(ax, xv, _mm256_loadu_si256((const __m256i *)(w2 + i)), ones));
        a3 = _mm256_add_epi32(a3, dot32(ax, xv, _mm256_loadu_si256((const __m256i *)(w3 + i)), ones));
    }
    const int64_t t = k - k32;
    acc_out[0] = hsum_i32(a0) + dot_scalar(x + k32, w0 + k32, t);
    acc_out[1] = hsum_i32(a1) + dot_scalar(x + k32, w1 + k32, t);
    acc_out[2] = hsum_i32(a2) + dot_scalar(x + k32, w2 + k32, t);
    acc_out[3] = hsum_i32(a3) + dot_scalar(x + k32, w3 + k32, t);
}

/// Two activation rows against four weight rows: 8 accumulators, each weight load used twice.
static inline void tile_pc_2x4(const int8_t *x0, int64_t k, const int8_t *w0, int32_t acc_out[8]) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int8_t *x1 = x0 + k;
    const int8_t *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
    __m256i a00 = _mm256_setzero_si256(), a01 = a00, a02 = a00, a03 = a00;
    __m256i a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    const int64_t k32 = k & ~(int64_t)31;
    for (int64_t i = 0; i < k32; i += 32) {
        const __m256i xv0 = _mm256_loadu_si256((const __m256i *)(x0 + i));
        const __m256i xv1 = _mm256_loadu_si256((const __m256i *)(x1 + i));
        const __m256i ax0 = _mm256_abs_epi8(xv0), ax1 = _mm256_abs_epi8(xv1);
        __m256i w = _mm256_loadu_si256((const __m256i *)(w0 + i));
        a00 = _mm256_add_epi32(a00, dot32(ax0, xv0, w, ones));
        a10 = _mm256_add_epi32(a10, dot32(ax1, xv1, w, ones));
        w = _mm256_loadu_si256((const __m256i *)(w1 + i));
        a01 = _mm256_add_epi32(a01, dot32(ax0, xv0, w, ones));
        a11 = _mm256_add_epi32(a11, dot32(ax1, xv1, w, ones));
        w = _mm256_loadu_si256((const __m256i *)(w2 + i));
        a02 = _mm256_add_epi32(a02, dot32(ax0, xv0, w, ones));
        a12 = _mm256_add_epi32(a12, dot32(ax1, xv1, w, ones));
        w = _mm256_loadu_si256((const __m256i *)(w3 + i));
        a03 = _mm256_add_epi32(a03, dot32(ax0, xv0, w, ones));
        a13 = _mm256_add_epi32(a13, dot32(ax1, xv1, w, ones));
    }
    const int64_t t = k - k32;
    const int8_t *xt0 = x0 + k32, *xt1 = x1 + k32;
    acc_out[0] = hsum_i32(a00) + dot_scalar(xt0, w0 + k32, t);
    acc_out[1] = hsum_i32(a01) + dot_scalar(xt0, w1 + k32, t);
    acc_out[2] = hsum_i32(a02) + dot_scalar(xt0, w2 + k32, t);
    acc_out[3] = hsum_i32(a03) + dot_scalar(xt0, w3 + k32, t);
    acc_out[4] = hsum_i32(a10) + dot_scalar(xt1, w0 + k32, t);
    acc_out[5] = hsum_i32(a11) + dot_scalar(xt1, w1 + k32, t);
    acc_out[6] = hsum_i32(a12) + dot_scalar(xt1, w2 + k32, t);
    acc_out[7] = hsum_i32(a13) + dot_scalar(xt1, w3 + k32, t);
}

static inline float finish(int32_t acc, float scale, const float *bias, int64_t n) {
    float v = (float)acc * scale;
    if (bias) v += bias[n];
    return v;
}

void ci8_avx2_linear_per_channel(const int8_t *xq, const float *sx, int64_t m, int64_t k,
                            const int8_t *w, const float *sw, const float *bias,
                            int64_t n0, int64_t n1, float *out, int64_t ldo) {
    int64_t n = n0;
    // Weight tiles outermost: a 4-row weight tile (4K bytes) stays in L1 while every activation
    // row passes over it, so each weight byte is read from memory once per call.
    for (; n + 4 <= n1; n += 4) {
        const int8_t *wt = w + n * k;
        int64_t r = 0;
        int32_t acc[8];
        for (; r + 2 <= m; r += 2) {
            tile_pc_2x4(xq + r * k, k, wt, acc);
            for (int j = 0; j < 4; j++) {
                out[r * ldo + n + j] = finish(acc[j], sx[r] * sw[n + j], bias, n + j);
                out[(r + 1) * ldo + n + j] = finish(acc[4 + j], sx[r + 1] * sw[n + j], bias, n + j);
            }
        }
        for (; r < m; r++) {
            tile_pc_1x4(xq + r * k, k, wt, acc);
            for (int j = 0; j < 4; j++)
                out[r * ldo + n + j] = finish(acc[j], sx[r] * sw[n + j], bias, n + j);
        }
    }
    for (; n < n1; n++) {
        for (int64_t r = 0; r < m; r++) {
            const int32_t acc = ci8_avx2_dot(xq + r * k, w + n * k, k);
            out[r * ldo + n] = finish(acc, sx[r] * sw[n], bias, n);
        }
    }
}

// MARK: - block linear

/// One activation row against four weight rows, block scales on both sides: each block's int32
/// partial sums are converted to float and accumulated with the product of the two scales.
static inline void tile_blk_1x4(const int8_t *x, const float *sxr, int64_t k, int64_t block, int64_t nb,
                                const int8_t *w0, const float *sw0, float out4[4]) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int8_t *w[4] = {w0, w0 + k, w0 + 2 * k, w0 + 3 * k};
    const float *sw[4] = {sw0, sw0 + nb, sw0 + 2 * nb, sw0 + 3 * nb};
    __m256 f0 = _mm256_setzero_ps(), f1 = f0, f2 = f0, f3 = f0;
    float tail[4] = {0, 0, 0, 0};
    for (int64_t b = 0; b < nb; b++) {
        const int64_t start = b * block;
        const int64_t end = start + block <= k ? start + block : k;
        const int64_t end32 = start + ((end - start) & ~(int64_t)31);
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = start; i < end32; i += 32) {
            _mm_prefetch((const char *)(w[0] + i + 512), _MM_HINT_T0);
            _mm_prefetch((const char *)(w[1] + i + 512), _MM_HINT_T0);
            _mm_prefetch((const char *)(w[2] + i + 512), _MM_HINT_T0);
            _mm_prefetch((const char *)(w[3] + i + 512), _MM_HINT_T0);
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(x + i));
            const __m256i ax = _mm256_abs_epi8(xv);
            a0 = _mm256_add_epi32(a0, dot32(ax, xv, _mm256_loadu_si256((const __m256i *)(w[0] + i)), ones));
            a1 = _mm256_add_epi32(a1, dot32(ax, xv, _mm256_loadu_si256((const __m256i *)(w[1] + i)), ones));
            a2 = _mm256_add_epi32(a2, dot32(ax, xv, _mm256_loadu_si256((const __m256i *)(w[2] + i)), ones));
            a3 = _mm256_add_epi32(a3, dot32(ax, xv, _mm256_loadu_si256((const __m256i *)(w[3] + i)), ones));
        }
        const float s = sxr[b];
        f0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a0), _mm256_set1_ps(s * sw[0][b]), f0);
        f1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a1), _mm256_set1_ps(s * sw[1][b]), f1);
        f2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a2), _mm256_set1_ps(s * sw[2][b]), f2);
        f3 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a3), _mm256_set1_ps(s * sw[3][b]), f3);
        if (end32 < end) {
            for (int j = 0; j < 4; j++)
                tail[j] += (float)dot_scalar(x + end32, w[j] + end32, end - end32) * s * sw[j][b];
        }
    }
    out4[0] = hsum_f32(f0) + tail[0];
    out4[1] = hsum_f32(f1) + tail[1];
    out4[2] = hsum_f32(f2) + tail[2];
    out4[3] = hsum_f32(f3) + tail[3];
}

/// Scalar-tail version for one activation row and one weight row.
static float dot_blk_1x1(const int8_t *x, const float *sxr, int64_t k, int64_t block, int64_t nb,
                         const int8_t *w, const float *swr) {
    float total = 0;
    for (int64_t b = 0; b < nb; b++) {
        const int64_t start = b * block;
        const int64_t len = start + block <= k ? block : k - start;
        total += (float)ci8_avx2_dot(x + start, w + start, len) * sxr[b] * swr[b];
    }
    return total;
}

void ci8_avx2_linear_block(const int8_t *xq, const float *sx, int64_t m, int64_t k, int64_t block,
                      const int8_t *w, const float *sw, const float *bias,
                      int64_t n0, int64_t n1, float *out, int64_t ldo) {
    if (k <= 0 || block <= 0) {
        for (int64_t r = 0; r < m; r++)
            for (int64_t n = n0; n < n1; n++) out[r * ldo + n] = bias ? bias[n] : 0.0f;
        return;
    }
    const int64_t nb = (k + block - 1) / block;
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) {
        for (int64_t r = 0; r < m; r++) {
            float v[4];
            tile_blk_1x4(xq + r * k, sx + r * nb, k, block, nb, w + n * k, sw + n * nb, v);
            for (int j = 0; j < 4; j++) {
                float y = v[j];
                if (bias) y += bias[n + j];
                out[r * ldo + n + j] = y;
            }
        }
    }
    for (; n < n1; n++) {
        for (int64_t r = 0; r < m; r++) {
            float y = dot_blk_1x1(xq + r * k, sx + r * nb, k, block, nb, w + n * k, sw + n * nb);
            if (bias) y += bias[n];
            out[r * ldo + n] = y;
        }
    }
}

#pragma clang attribute pop

#endif // __x86_64__
