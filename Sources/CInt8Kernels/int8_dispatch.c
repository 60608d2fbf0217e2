// The public int8 entry points (include/int8_kernels.h): each call runs the variant for
// clipcap_cpu_level() (AVX-512 VNNI, AVX2, or portable C; see docs/BACKENDS.md).

#include "int8_variants.h"

#include "cpu_features.h"

#if defined(__x86_64__)
#define HAS_AVX2() (clipcap_cpu_level() >= CLIPCAP_CPU_AVX2)
#define HAS_VNNI() (clipcap_cpu_has_avx512_vnni() != 0)
#else
#define HAS_AVX2() 0
#define HAS_VNNI() 0
#endif

int ci8_cpu_has_avx2(void) { return HAS_AVX2() ? 1 : 0; }

int ci8_cpu_has_avx512_vnni(void) { return HAS_VNNI() ? 1 : 0; }

const char *ci8_kernel_name(void) {
    if (HAS_VNNI()) return "avx512-vnni";
    return HAS_AVX2() ? "avx2" : "portable";
}

void ci8_quantize_rows(const float *x, int64_t m, int64_t k, int64_t group, int8_t *q, float *scales) {
    float (*quantize_group)(const float *, int64_t, int8_t *) = ci8_portable_quantize_group;
#if defined(__x86_64__)
    if (HAS_AVX2()) quantize_group = ci8_avx2_quantize_group;
#endif
    if (group <= 0 || group > k) group = k;
    const int64_t groups = k > 0 ? (k + group - 1) / group : 0;
    for (int64_t r = 0; r < m; r++) {
        for (int64_t g = 0; g < groups; g++) {
            const int64_t start = g * group;
            const int64_t len = start + group <= k ? group : k - start;
            scales[r * groups + g] = quantize_group(x + r * k + start, len, q + r * k + start);
        }
    }
}

void ci8_linear_per_channel(const int8_t *xq, const float *sx, int64_t m, int64_t k,
                            const int8_t *w, const float *sw, const float *bias,
                            int64_t n0, int64_t n1, float *out, int64_t ldo) {
#if defined(__x86_64__)
    if (HAS_AVX2()) { ci8_avx2_linear_per_channel(xq, sx, m, k, w, sw, bias, n0, n1, out, ldo); return; }
#endif
    ci8_portable_linear_per_channel(xq, sx, m, k, w, sw, bias, n0, n1, out, ldo);
}

void ci8_linear_block(const int8_t *xq, const float *sx, int64_t m, int64_t k, int64_t block,
                      const int8_t *w, const float *sw, const float *bias,
                      int64_t n0, int64_t n1, float *out, int64_t ldo) {
#if defined(__x86_64__)
    if (HAS_AVX2()) { ci8_avx2_linear_block(xq, sx, m, k, block, w, sw, bias, n0, n1, out, ldo); return; }
#endif
    ci8_portable_linear_block(xq, sx, m, k, block, w, sw, bias, n0, n1, out, ldo);
}

void ci8_linear_per_channel_vnni(const uint8_t *xu, const float *sx, int64_t m, int64_t k,
                                 const int8_t *w, const int32_t *wsum, const float *sw,
                                 const float *bias, int64_t n0, int64_t n1,
                                 float *out, int64_t ldo) {
#if defined(__x86_64__)
    if (HAS_VNNI()) { ci8_vnni_linear_per_channel(xu, sx, m, k, w, wsum, sw, bias, n0, n1, out, ldo); return; }
#endif
    ci8_portable_linear_per_channel_shifted(xu, sx, m, k, w, wsum, sw, bias, n0, n1, out, ldo);
}

int32_t ci8_dot(const int8_t *a, const int8_t *b, int64_t k) {
#if defined(__x86_64__)
    if (HAS_AVX2()) return ci8_avx2_dot(a, b, k);
#endif
    return ci8_portable_dot(a, b, k);
}

int32_t ci8_dot_vnni(const int8_t *a, const int8_t *b, int64_t k) {
#if defined(__x86_64__)
    if (HAS_VNNI()) return ci8_vnni_dot(a, b, k);
#endif
    return ci8_portable_dot(a, b, k);
}
