// Portable C int8 kernels (see include/int8_kernels.h): the path for CPUs without AVX2 and for
// aarch64, where the compiler vectorises the int8 dot products with the baseline's SIMD (SSE2
// pmaddwd, NEON smull/sadalp). Same results as the AVX2 path: the int32 sums are exact, and the
// quantization rounds to nearest even like cvtps2dq.

#include "int8_variants.h"

#include <math.h>

int32_t ci8_portable_dot(const int8_t *a, const int8_t *b, int64_t k) {
    int32_t acc = 0;
    for (int64_t i = 0; i < k; i++) acc += (int32_t)a[i] * (int32_t)b[i];
    return acc;
}

float ci8_portable_quantize_group(const float *x, int64_t len, int8_t *q) {
    float amax = 0.0f;
    for (int64_t i = 0; i < len; i++) {
        const float a = fabsf(x[i]);
        amax = a > amax ? a : amax;
    }
    ci8_quantize_scalar(x, len, amax > 0.0f ? 127.0f / amax : 0.0f, q);
    return amax / 127.0f;
}

void ci8_portable_linear_per_channel(const int8_t *xq, const float *sx, int64_t m, int64_t k,
                                     const int8_t *w, const float *sw, const float *bias,
                                     int64_t n0, int64_t n1, float *out, int64_t ldo) {
    // Weight rows outermost: each stays in L1 while every activation row passes over it.
    for (int64_t n = n0; n < n1; n++) {
        for (int64_t r = 0; r < m; r++) {
            const int32_t acc = ci8_portable_dot(xq + r * k, w + n * k, k);
            out[r * ldo + n] = (float)acc * (sx[r] * sw[n]) + (bias ? bias[n] : 0.0f);
        }
    }
}

void ci8_portable_linear_block(const int8_t *xq, const float *sx, int64_t m, int64_t k, int64_t block,
                               const int8_t *w, const float *sw, const float *bias,
                               int64_t n0, int64_t n1, float *out, int64_t ldo) {
    const int64_t nb = (k > 0 && block > 0) ? (k + block - 1) / block : 0;
    for (int64_t n = n0; n < n1; n++) {
        for (int64_t r = 0; r < m; r++) {
            float total = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                const int64_t start = b * block;
                const int64_t len = start + block <= k ? block : k - start;
                total += (float)ci8_portable_dot(xq + r * k + start, w + n * k + start, len) * sx[r * nb + b] * sw[n * nb + b];
            }
            out[r * ldo + n] = total + (bias ? bias[n] : 0.0f);
        }
    }
}

void ci8_portable_linear_per_channel_shifted(const uint8_t *xu, const float *sx, int64_t m, int64_t k,
                                             const int8_t *w, const int32_t *wsum, const float *sw,
                                             const float *bias, int64_t n0, int64_t n1,
                                             float *out, int64_t ldo) {
    for (int64_t n = n0; n < n1; n++) {
        const int8_t *wr = w + n * k;
        for (int64_t r = 0; r < m; r++) {
            const uint8_t *xr = xu + r * k;
            int32_t acc = 0;
            for (int64_t i = 0; i < k; i++) acc += (int32_t)xr[i] * (int32_t)wr[i];
            acc -= 128 * wsum[n];
            out[r * ldo + n] = (float)acc * (sx[r] * sw[n]) + (bias ? bias[n] : 0.0f);
        }
    }
}

// Plain loops on every CPU: the VNNI path's preparation, outside the hot loop.

void ci8_row_sums(const int8_t *w, int64_t n, int64_t k, int32_t *sums) {
    for (int64_t r = 0; r < n; r++) {
        const int8_t *row = w + r * k;
        int32_t s = 0;
        for (int64_t i = 0; i < k; i++) s += row[i];
        sums[r] = s;
    }
}

void ci8_shift_to_unsigned(const int8_t *q, int64_t count, uint8_t *u) {
    for (int64_t i = 0; i < count; i++) u[i] = (uint8_t)((uint8_t)q[i] ^ 0x80u);
}
