// The float kernels on architectures other than x86-64 (aarch64): plain C versions of the
// AVX-512 functions of float_kernels.c and panel_gemm.c, so the target links and every function
// gives the documented result anywhere. The BLAS backend does not call them there
// (cf32_uses_avx512() and cf32_panel_gemm_supported() return 0; OpenBLAS does the products).

#include "float_kernels.h"

#if !defined(__x86_64__)

#include "vector_kernels.h"

static inline float weight_at(const int half, const void *w, int64_t index) {
    return half ? cvk_half_to_float(((const uint16_t *)w)[index]) : ((const float *)w)[index];
}

static void rows_io(const int half, const float *x, int64_t m, int64_t k, int64_t k0, int64_t k1,
                    const void *w, int64_t ldw, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    for (int64_t r = 0; r < m; r++)
        for (int64_t n = n0; n < n1; n++) y[r * ldy + n] = 0.0f;
    for (int64_t kk = k0; kk < k1; kk++)
        for (int64_t r = 0; r < m; r++) {
            const float xv = x[r * k + kk];
            for (int64_t n = n0; n < n1; n++) y[r * ldy + n] += xv * weight_at(half, w, kk * ldw + n);
        }
}

void cf32_rows_io_range(const float *x, int64_t m, int64_t k, int64_t k0, int64_t k1,
                        const float *w, int64_t ldw, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    rows_io(0, x, m, k, k0, k1, w, ldw, n0, n1, y, ldy);
}

void cf16_rows_io_range(const float *x, int64_t m, int64_t k, int64_t k0, int64_t k1,
                        const uint16_t *w, int64_t ldw, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    rows_io(1, x, m, k, k0, k1, w, ldw, n0, n1, y, ldy);
}

void cf32_add_into(float *dst, const float *src, int64_t count) {
    for (int64_t i = 0; i < count; i++) dst[i] += src[i];
}

static void rows_oi(const int half, const float *x, int64_t m, int64_t k, const void *w,
                    int64_t n0, int64_t n1, float *y, int64_t ldy) {
    for (int64_t n = n0; n < n1; n++)
        for (int64_t r = 0; r < m; r++) {
            float s = 0.0f;
            for (int64_t i = 0; i < k; i++) s += x[r * k + i] * weight_at(half, w, n * k + i);
            y[r * ldy + n] = s;
        }
}

void cf32_rows_oi(const float *x, int64_t m, int64_t k, const float *w,
                  int64_t n0, int64_t n1, float *y, int64_t ldy) {
    rows_oi(0, x, m, k, w, n0, n1, y, ldy);
}

void cf16_rows_oi(const float *x, int64_t m, int64_t k, const uint16_t *w,
                  int64_t n0, int64_t n1, float *y, int64_t ldy) {
    rows_oi(1, x, m, k, w, n0, n1, y, ldy);
}

void cf32_attention_head(const float *q, const float *k, const float *v, float *out,
                         int64_t queries, int64_t keys, int64_t model, int64_t head_dim,
                         float scale, int causal, float *scores) {
    cvk_attention_head(q, k, v, out, queries, keys, model, head_dim, scale, causal, scores);
}

void cf32_panel_gemm_io(const float *x, int64_t m, int64_t k, const void *w, int w_is_f16, int64_t ldw,
                        int64_t n0, int64_t n1, float *y, int64_t ldy, float *pack) {
    (void)pack;
    if (m <= 0 || n1 <= n0) return;
    rows_io(w_is_f16 ? 1 : 0, x, m, k, 0, k, w, ldw, n0, n1, y, ldy);
}

#endif // !__x86_64__
