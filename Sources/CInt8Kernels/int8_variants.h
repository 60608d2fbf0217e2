#pragma once
// The per-level variants behind the public ci8_* functions (include/int8_kernels.h), which
// int8_dispatch.c picks from at each call with clipcap_cpu_level(). Internal to this target.

#include "int8_kernels.h"

// Portable C (int8_portable.c): every CPU; auto-vectorised for the build's baseline.
int32_t ci8_portable_dot(const int8_t *a, const int8_t *b, int64_t k);
void ci8_portable_quantize_rows(const float *x, int64_t m, int64_t k, int64_t group, int8_t *q, float *scales);
void ci8_portable_linear_per_channel(const int8_t *xq, const float *sx, int64_t m, int64_t k,
                                     const int8_t *w, const float *sw, const float *bias,
                                     int64_t n0, int64_t n1, float *out, int64_t ldo);
void ci8_portable_linear_block(const int8_t *xq, const float *sx, int64_t m, int64_t k, int64_t block,
                               const int8_t *w, const float *sw, const float *bias,
                               int64_t n0, int64_t n1, float *out, int64_t ldo);
void ci8_portable_linear_per_channel_shifted(const uint8_t *xu, const float *sx, int64_t m, int64_t k,
                                             const int8_t *w, const int32_t *wsum, const float *sw,
                                             const float *bias, int64_t n0, int64_t n1,
                                             float *out, int64_t ldo);

#if defined(__x86_64__)
// AVX2 + FMA (int8_avx2.c).
int32_t ci8_avx2_dot(const int8_t *a, const int8_t *b, int64_t k);
void ci8_avx2_quantize_rows(const float *x, int64_t m, int64_t k, int64_t group, int8_t *q, float *scales);
void ci8_avx2_linear_per_channel(const int8_t *xq, const float *sx, int64_t m, int64_t k,
                                 const int8_t *w, const float *sw, const float *bias,
                                 int64_t n0, int64_t n1, float *out, int64_t ldo);
void ci8_avx2_linear_block(const int8_t *xq, const float *sx, int64_t m, int64_t k, int64_t block,
                           const int8_t *w, const float *sw, const float *bias,
                           int64_t n0, int64_t n1, float *out, int64_t ldo);

// AVX-512 VNNI (int8_vnni.c).
void ci8_vnni_linear_per_channel(const uint8_t *xu, const float *sx, int64_t m, int64_t k,
                                 const int8_t *w, const int32_t *wsum, const float *sw,
                                 const float *bias, int64_t n0, int64_t n1, float *out, int64_t ldo);
int32_t ci8_vnni_dot(const int8_t *a, const int8_t *b, int64_t k);
#endif
