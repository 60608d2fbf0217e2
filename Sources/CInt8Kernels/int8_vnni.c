// AVX-512 VNNI int8 micro-kernels (see include/int8_kernels.h and docs/INT8.md).
//
// vpdpbusd multiplies unsigned bytes by signed bytes, sums groups of four into int32 lanes and
// accumulates, 64 multiply-adds per instruction, without the 16-bit saturation of vpmaddubsw.
// The activations are symmetric int8, so they are shifted to unsigned (u = q + 128, a flip of
// the sign bit) and the shift is taken back out exactly with the weight row sums:
//   sum_k u_k * w_k = sum_k q_k * w_k + 128 * sum_k w_k.
// |sum| <= K * 255 * 127 fits int32 for K < 66,000.
//
// Compiled for AVX-512 with function attributes and only on x86-64; int8_dispatch.c calls the
// ci8_vnni_* variants after clipcap_cpu_has_avx512_vnni() returned 1.

#include "int8_variants.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <stddef.h>

/// Bytes ahead of each weight row that are prefetched: two 4-row tiles, i.e. the rows the
/// kernel reads next (measured: decode 6.0 ms/token with 512 bytes, 4.5-5.3 with 8 rows).
#define PF_AHEAD (8 * k)
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq")))

/// Sums of four int32 vectors, one lane each: {hsum(a0), hsum(a1), hsum(a2), hsum(a3)}.
VNNI_TARGET static inline __m128i reduce4(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
    const __m256i s0 = _mm256_add_epi32(_mm512_castsi512_si256(a0), _mm512_extracti64x4_epi64(a0, 1));
    const __m256i s1 = _mm256_add_epi32(_mm512_castsi512_si256(a1), _mm512_extracti64x4_epi64(a1, 1));
    const __m256i s2 = _mm256_add_epi32(_mm512_castsi512_si256(a2), _mm512_extracti64x4_epi64(a2, 1));
    const __m256i s3 = _mm256_add_epi32(_mm512_castsi512_si256(a3), _mm512_extracti64x4_epi64(a3, 1));
    const __m256i t = _mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3));
    return _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

/// `mr` (1-4) activation rows against four weight rows; writes the finished floats
/// (scale, shift correction and bias applied) to out[r * ldo + n .. n + 3].
VNNI_TARGET static inline __attribute__((always_inline)) void
tile_vnni(const int mr, const uint8_t *x, const float *sx, int64_t k, const int8_t *w, int64_t n,
          const int32_t *wsum, const float *sw, const float *bias, float *out, int64_t ldo) {
    const int8_t *w0 = w + n * k, *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
    __m512i acc[4][4];
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < 4; j++) acc[r][j] = _mm512_setzero_si512();
    int64_t i = 0;
    for (; i + 64 <= k; i += 64) {
        _mm_prefetch((const char *)(w0 + i + PF_AHEAD), _MM_HINT_T0);
        _mm_prefetch((const char *)(w1 + i + PF_AHEAD), _MM_HINT_T0);
        _mm_prefetch((const char *)(w2 + i + PF_AHEAD), _MM_HINT_T0);
        _mm_prefetch((const char *)(w3 + i + PF_AHEAD), _MM_HINT_T0);
        const __m512i v0 = _mm512_loadu_si512(w0 + i), v1 = _mm512_loadu_si512(w1 + i);
        const __m512i v2 = _mm512_loadu_si512(w2 + i), v3 = _mm512_loadu_si512(w3 + i);
        for (int r = 0; r < mr; r++) {
            const __m512i xv = _mm512_loadu_si512(x + r * k + i);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], xv, v0);
            acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], xv, v1);
            acc[r][2] = _mm512_dpbusd_epi32(acc[r][2], xv, v2);
            acc[r][3] = _mm512_dpbusd_epi32(acc[r][3], xv, v3);
        }
    }
    if (i < k) {
        // Tail: weights masked to zero, so whatever the masked activations hold adds nothing
        // (and the row sums cover exactly the real elements).
        const __mmask64 mask = (__mmask64)(~0ULL >> (64 - (k - i)));
        const __m512i v0 = _mm512_maskz_loadu_epi8(mask, w0 + i), v1 = _mm512_maskz_loadu_epi8(mask, w1 + i);
        const __m512i v2 = _mm512_maskz_loadu_epi8(mask, w2 + i), v3 = _mm512_maskz_loadu_epi8(mask, w3 + i);
        for (int r = 0; r < mr; r++) {
            const __m512i xv = _mm512_maskz_loadu_epi8(mask, x + r * k + i);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], xv, v0);
            acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], xv, v1);
            acc[r][2] = _mm512_dpbusd_epi32(acc[r][2], xv, v2);
            acc[r][3] = _mm512_dpbusd_epi32(acc[r][3], xv, v3);
        }
    }
    const __m128i shift = _mm_slli_epi32(_mm_loadu_si128((const __m128i *)(wsum + n)), 7);
    const __m128 scale_w = _mm_loadu_ps(sw + n);
    const __m128 b = bias ? _mm_loadu_ps(bias + n) : _mm_setzero_ps();
    for (int r = 0; r < mr; r++) {
        const __m128i s = _mm_sub_epi32(reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]), shift);
        const __m128 scale = _mm_mul_ps(scale_w, _mm_set1_ps(sx[r]));
        _mm_storeu_ps(out + r * ldo + n, _mm_fmadd_ps(_mm_cvtepi32_ps(s), scale, b));
    }
}

/// One activation row against one weight row (output-channel tails).
VNNI_TARGET static int32_t dot_vnni(const uint8_t *x, const int8_t *w, int64_t k) {
    __m512i acc = _mm512_setzero_si512();
    int64_t i = 0;
    for (; i + 64 <= k; i += 64)
        acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(x + i), _mm512_loadu_si512(w + i));
    if (i < k) {
        const __mmask64 mask = (__mmask64)(~0ULL >> (64 - (k - i)));
        acc = _mm512_dpbusd_epi32(acc, _mm512_maskz_loadu_epi8(mask, x + i), _mm512_maskz_loadu_epi8(mask, w + i));
    }
    return _mm512_reduce_add_epi32(acc);
}

VNNI_TARGET void ci8_vnni_linear_per_channel(const uint8_t *xu, const float *sx, int64_t m, int64_t k,
                                             const int8_t *w, const int32_t *wsum, const float *sw,
                                             const float *bias, int64_t n0, int64_t n1,
                                             float *out, int64_t ldo) {
    int64_t n = n0;
    // Weight tiles outermost: four weight rows (4K bytes) stay in L1 while every activation
    // row passes over them, so each weight byte comes from memory once per call.
    for (; n + 4 <= n1; n += 4) {
        int64_t r = 0;
        for (; r + 4 <= m; r += 4) tile_vnni(4, xu + r * k, sx + r, k, w, n, wsum, sw, bias, out + r * ldo, ldo);
        switch (m - r) {
        case 3: tile_vnni(3, xu + r * k, sx + r, k, w, n, wsum, sw, bias, out + r * ldo, ldo); break;
        case 2: tile_vnni(2, xu + r * k, sx + r, k, w, n, wsum, sw, bias, out + r * ldo, ldo); break;
        case 1: tile_vnni(1, xu + r * k, sx + r, k, w, n, wsum, sw, bias, out + r * ldo, ldo); break;
        default: break;
        }
    }
    for (; n < n1; n++) {
        for (int64_t r = 0; r < m; r++) {
            const int32_t acc = dot_vnni(xu + r * k, w + n * k, k) - 128 * wsum[n];
            out[r * ldo + n] = (float)acc * (sx[r] * sw[n]) + (bias ? bias[n] : 0.0f);
        }
    }
}

VNNI_TARGET int32_t ci8_vnni_dot(const int8_t *a, const int8_t *b, int64_t k) {
    // Test hook: same shift + correction as the linear kernel.
    int32_t bsum = 0;
    for (int64_t i = 0; i < k; i++) bsum += b[i];
    __m512i acc = _mm512_setzero_si512();
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    int64_t i = 0;
    for (; i + 64 <= k; i += 64) {
        const __m512i u = _mm512_xor_si512(_mm512_loadu_si512(a + i), flip);
        acc = _mm512_dpbusd_epi32(acc, u, _mm512_loadu_si512(b + i));
    }
    if (i < k) {
        const __mmask64 mask = (__mmask64)(~0ULL >> (64 - (k - i)));
        const __m512i u = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, a + i), flip);
        acc = _mm512_dpbusd_epi32(acc, u, _mm512_maskz_loadu_epi8(mask, b + i));
    }
    return _mm512_reduce_add_epi32(acc) - 128 * bsum;
}

#endif // __x86_64__
