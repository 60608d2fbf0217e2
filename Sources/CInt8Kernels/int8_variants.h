#pragma once
// The per-level variants behind the public ci8_* functions (include/int8_kernels.h), which
// int8_dispatch.c picks from at each call with clipcap_cpu_level(). Internal to this target.

#include "int8_kernels.h"

/// The functions every level implements, named PREFIX_dot, PREFIX_quantize_rows, ... (the
/// same contracts as the public ci8_* functions).
#define CI8_DECLARE_LEVEL(prefix)                                                                      \
    int32_t prefix##_dot(const int8_t *a, const int8_t *b, int64_t k);                                 \
    void prefix##_quantize_rows(const float *x, int64_t m, int64_t k, int64_t group, int8_t *q,       \
                                float *scales);                                                        \
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
