#pragma once
// The per-level variants behind the public ci8_* functions (include/int8_kernels.h), which
// int8_dispatch.c picks from at each call with clipcap_cpu_level(). Internal to this target.

#include "int8_kernels.h"

#include <math.h>

/// q[i] = round(x[i] · inv) clamped to [-127, 127], rounding to nearest even like cvtps2dq:
/// the scalar form every level uses for what its vectors do not cover.
static inline void ci8_quantize_scalar(const float *x, int64_t len, float inv, int8_t *q) {
    for (int64_t i = 0; i < len; i++) {
        float v = nearbyintf(x[i] * inv);
        v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
        q[i] = (int8_t)v;
    }
}

/// The functions every level implements, named PREFIX_dot, PREFIX_quantize_rows, ... (the
/// same contracts as the public ci8_* functions).
#define CI8_DECLARE_LEVEL(prefix)                                                                      \
    int32_t prefix##_dot(const int8_t *a, const int8_t *b, int64_t k);                                 \
    /* one group of ci8_quantize_rows: q = round(x · 127 / max|x|), returns the scale max|x| / 127 */ \
    float prefix##_quantize_group(const float *x, int64_t len, int8_t *q);                              \
    void prefix##_linear_per_channel(const int8_t *xq, const float *sx, int64_t m, int64_t k,          \
                                     const int8_t *w, const float *sw, const float *bias, int64_t n0,  \
                                     int64_t n1, float *out, int64_t ldo);                             \
    void prefix##_linear_block(const int8_t *xq, const float *sx, int64_t m, int64_t k, int64_t block, \
                               const int8_t *w, const float *sw, const float *bias, int64_t n0,        \
                               int64_t n1, float *out, int64_t ldo);

// Portable C (int8_portable.c): every CPU; auto-vectorised for the build's baseline.
CI8_DECLARE_LEVEL(ci8_portable)
/// ci8_linear_per_channel_vnni's contract (shifted activations, row-sum correction) in plain C.
void ci8_portable_linear_per_channel_shifted(const uint8_t *xu, const float *sx, int64_t m, int64_t k,
                                             const int8_t *w, const int32_t *wsum, const float *sw,
                                             const float *bias, int64_t n0, int64_t n1,
                                             float *out, int64_t ldo);

#if defined(__x86_64__)
// AVX2 + FMA (int8_avx2.c).
CI8_DECLARE_LEVEL(ci8_avx2)

// AVX-512 VNNI (int8_vnni.c).
void ci8_vnni_linear_per_channel(const uint8_t *xu, const float *sx, int64_t m, int64_t k,
                                 const int8_t *w, const int32_t *wsum, const float *sw,
                                 const float *bias, int64_t n0, int64_t n1, float *out, int64_t ldo);
int32_t ci8_vnni_dot(const int8_t *a, const int8_t *b, int64_t k);
#endif
