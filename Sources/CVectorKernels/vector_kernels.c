// Element-wise and row-wise float loops, one source compiled per instruction-set level
// (see include/vector_kernels.h).
//
// How the variants are made: each loop is written once as an always-inline `*_body` function in
// plain C, then wrapped by one small function per level. A wrapper with
// `__attribute__((target("avx2,fma")))` inlines the body and the auto-vectoriser emits 8-lane
// AVX2 with FMA for it; the AVX-512 wrapper gets 16 lanes; the wrapper without attributes is the
// build's baseline (SSE2 on x86-64, NEON on aarch64). No intrinsics, so the same file compiles
// on every architecture; no compiler flag is needed (SwiftPM refuses unsafe flags in packages
// used as dependencies).

#include "vector_kernels.h"

#include "cpu_features.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

// a*b + c may become one FMA where the level has it (the Swift code this replaces used FMAs).
#pragma clang fp contract(fast)

#define BODY static inline __attribute__((always_inline))

// MARK: - scalar math, written so that loops over it vectorise (selects, no branches, no libm)

/// e^x: Cephes' expf (range reduction x = n·ln2 + r, degree-6 polynomial, 2^n from the
/// exponent bits), ~2 ulp; inputs are clamped to ±88.376 (e^±88.376 is the float range).
BODY float exp_approx(float x) {
    x = x > 88.3762626647949f ? 88.3762626647949f : x;
    x = x < -88.3762626647949f ? -88.3762626647949f : x;
    // fx = floor(x·log2(e) + 0.5), with the 1.5·2^23 trick for the rounding (no floorf: SSE2
    // has no vector floor) and a correction where it rounded up.
    const float t = x * 1.44269504088896341f + 0.5f;
    float fx = (t + 12582912.0f) - 12582912.0f;
    fx = fx > t ? fx - 1.0f : fx;
    x = x - fx * 0.693359375f;
    x = x + fx * 2.12194440e-4f;
    const float z = x * x;
    float y = 1.9875691500e-4f;
    y = y * x + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * z + (x + 1.0f);
    // fx is in [-127, 128]: the biased exponent fx + 127 fits the 8 exponent bits except at
    // +128, where the clamp above keeps y·2^127·2 finite (y < 1 there).
    const int32_t bits = ((int32_t)fx + 127) << 23;
    float pow2;
    memcpy(&pow2, &bits, sizeof pow2);
    return y * pow2;
}

BODY float magnitude(float x) { return x < 0.0f ? -x : x; }

/// tanh: Cephes' odd polynomial below |x| = 0.625, 1 - 2/(e^{2|x|} + 1) above (~3 ulp).
BODY float tanh_approx(float x) {
    const float ax = magnitude(x);
    const float e = exp_approx(ax + ax);
    const float large_magnitude = 1.0f - 2.0f / (e + 1.0f);
    const float large = x < 0.0f ? -large_magnitude : large_magnitude;
    const float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    const float small = (x * z) * p + x;
    return ax < 0.625f ? small : large;
}

/// erfc(z) for z >= 0, relative error below ~2e-7 (Numerical Recipes' Chebyshev fit `erfcc`):
/// relative accuracy in the tail keeps gelu_erf accurate for negative inputs.
BODY float erfc_nonnegative(float z) {
    const float t = 2.0f / (2.0f + z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    return t * exp_approx(p - z * z);
}

BODY float relu(float x) { return x < 0.0f ? 0.0f : x; }

BODY float quick_gelu(float x) { return x / (1.0f + exp_approx(x * -1.702f)); }

/// 0.5x(1 + tanh(u)) = x·sigmoid(2u): no cancellation for negative x.
BODY float gelu_tanh(float x) {
    const float u = ((x * x * x) * 0.044715f + x) * 0.7978845608028654f;
    return x / (1.0f + exp_approx(u * -2.0f));
}

/// 0.5·x·erfc(|x|/√2) for x < 0, x·(1 - 0.5·erfc(x/√2)) for x >= 0.
BODY float gelu_erf(float x) {
    const float c = erfc_nonnegative(magnitude(x) * 0.7071067811865476f);
    const float negative = 0.5f * x * c;
    const float positive = x * (1.0f - 0.5f * c);
    return x < 0.0f ? negative : positive;
}

// MARK: - loop bodies

/// One loop per activation and bias case, so that no branch stays inside the vectorised loop.
#define ROWS_LOOP(expr)                                                                    \
    do {                                                                                   \
        if (bias) {                                                                        \
            for (int64_t r = 0; r < rows; r++) {                                           \
                const float *xr = x + r * ldx;                                             \
                float *o = out + r * ldo;                                                  \
                for (int64_t i = 0; i < n; i++) { const float v = xr[i] + bias[i]; o[i] = (expr); } \
            }                                                                              \
        } else {                                                                           \
            for (int64_t r = 0; r < rows; r++) {                                           \
                const float *xr = x + r * ldx;                                             \
                float *o = out + r * ldo;                                                  \
                for (int64_t i = 0; i < n; i++) { const float v = xr[i]; o[i] = (expr); }  \
            }                                                                              \
        }                                                                                  \
    } while (0)

BODY void activation_rows_body(int activation, float scale, const float *x, int64_t ldx, const float *bias,
                               float *out, int64_t ldo, int64_t rows, int64_t n) {
    switch (activation) {
    case CVK_ACTIVATION_RELU: ROWS_LOOP(relu(v)); break;
    case CVK_ACTIVATION_TANH: ROWS_LOOP(tanh_approx(v)); break;
    case CVK_ACTIVATION_QUICK_GELU: ROWS_LOOP(quick_gelu(v)); break;
    case CVK_ACTIVATION_GELU_TANH: ROWS_LOOP(gelu_tanh(v)); break;
    case CVK_ACTIVATION_GELU_ERF: ROWS_LOOP(gelu_erf(v)); break;
    case CVK_ACTIVATION_SCALE: ROWS_LOOP(v * scale); break;
    default: ROWS_LOOP(v); break;
    }
}

// The reductions below may be reordered (summed in vector lanes): that is what lets them vectorise.
BODY float sum_body(const float *x, int64_t d) {
#pragma clang fp reassociate(on)
    float s = 0.0f;
    for (int64_t i = 0; i < d; i++) s += x[i];
    return s;
}

BODY float sum_of_squares_body(const float *x, int64_t d, float center) {
#pragma clang fp reassociate(on)
    float s = 0.0f;
    for (int64_t i = 0; i < d; i++) { const float c = x[i] - center; s += c * c; }
    return s;
}

/// max x[i], -inf for an empty row; NaN when the row holds one (what the finite checks look for).
BODY float max_body(const float *x, int64_t d) {
    // Eight running maxima (the loop vectoriser does not take a float max reduction).
    float lanes[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int nan = 0;
    int64_t i = 0;
    for (; i + 8 <= d; i += 8) {
        for (int j = 0; j < 8; j++) {
            const float v = x[i + j];
            lanes[j] = v > lanes[j] ? v : lanes[j];
            nan |= v != v;
        }
    }
    float m = -INFINITY;
    for (; i < d; i++) { m = x[i] > m ? x[i] : m; nan |= x[i] != x[i]; }
    for (int j = 0; j < 8; j++) m = lanes[j] > m ? lanes[j] : m;
    return nan ? NAN : m;
}

BODY void layer_norm_rows_body(const float *x, const float *gamma, const float *beta, float eps,
                               float *out, int64_t rows, int64_t d) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *o = out + r * d;
        const float mean = sum_body(xr, d) / (float)d;
        const float variance = sum_of_squares_body(xr, d, mean) / (float)d;
        const float inv = 1.0f / sqrtf(variance + eps);
        for (int64_t i = 0; i < d; i++) o[i] = ((xr[i] - mean) * inv) * gamma[i] + beta[i];
    }
}

BODY void l2_normalize_rows_body(const float *x, float *out, int64_t rows, int64_t d) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *o = out + r * d;
        const float norm = sqrtf(sum_of_squares_body(xr, d, 0.0f));
        for (int64_t i = 0; i < d; i++) o[i] = xr[i] / norm;
    }
}

BODY void softmax_rows_body(const float *x, float *out, int64_t rows, int64_t d) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        float *o = out + r * d;
        const float m = max_body(xr, d);
        for (int64_t i = 0; i < d; i++) o[i] = exp_approx(xr[i] - m);
        const float inv = 1.0f / sum_body(o, d);
        for (int64_t i = 0; i < d; i++) o[i] *= inv;
    }
}

BODY double exp_shifted_body(const float *x, float shift, float *out, int64_t count) {
#pragma clang fp reassociate(on)
    double sum = 0.0;
    if (out) {
        for (int64_t i = 0; i < count; i++) {
            const float e = x[i] == -INFINITY ? 0.0f : exp_approx(x[i] - shift);
            out[i] = e;
            sum += (double)e;
        }
    } else {
        for (int64_t i = 0; i < count; i++) sum += (double)(x[i] == -INFINITY ? 0.0f : exp_approx(x[i] - shift));
    }
    return sum;
}

/// Σ a[i]·b[i].
BODY float dot_body(const float *a, const float *b, int64_t d) {
#pragma clang fp reassociate(on)
    float s = 0.0f;
    for (int64_t i = 0; i < d; i++) s += a[i] * b[i];
    return s;
}

BODY void attention_head_body(const float *q, const float *k, const float *v, float *out, int64_t queries,
                              int64_t keys, int64_t model, int64_t head_dim, float scale, int causal,
                              float *scores) {
    for (int64_t i = 0; i < queries; i++) {
        int64_t visible = keys;
        if (causal) {
            visible = i + keys - queries + 1;
            visible = visible > keys ? keys : (visible < 0 ? 0 : visible);
        }
        float *o = out + i * model;
        for (int64_t d = 0; d < head_dim; d++) o[d] = 0.0f;
        if (visible == 0) continue;
        const float *qi = q + i * model;
        for (int64_t j = 0; j < visible; j++) scores[j] = dot_body(qi, k + j * model, head_dim) * scale;
        const float m = max_body(scores, visible);
        const float inv = (float)(1.0 / exp_shifted_body(scores, m, scores, visible));
        for (int64_t j = 0; j < visible; j++) {
            const float p = scores[j] * inv;
            const float *vj = v + j * model;
            for (int64_t d = 0; d < head_dim; d++) o[d] += p * vj[d];
        }
    }
}

/// `use_f16c`: read the halves as _Float16 (vcvtph2ps under F16C); else the branch-free bit
/// conversion, which vectorises with plain integer SIMD.
BODY void f16_to_f32_body(const void *src, float *dst, int64_t count, const int use_f16c) {
    const unsigned char *bytes = (const unsigned char *)src;
    for (int64_t i = 0; i < count; i++) {
        uint16_t h;
        memcpy(&h, bytes + 2 * i, sizeof h);
        if (use_f16c) {
#if defined(__x86_64__)
            _Float16 f;
            memcpy(&f, &h, sizeof f);
            dst[i] = (float)f;
#endif
        } else {
            dst[i] = cvk_half_to_float(h);
        }
    }
}

// MARK: - one wrapper per level, and the dispatch

#if defined(__x86_64__)
#define TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,f16c")))
/// name_portable, name_avx2, name_avx512 and the public name, which calls the one for the CPU.
#define DISPATCHED(ret, name, params, args)                                                \
    static ret name##_portable params { return name##_body args; }                         \
    TARGET_AVX2 static ret name##_avx2 params { return name##_body args; }                 \
    TARGET_AVX512 static ret name##_avx512 params { return name##_body args; }             \
    ret cvk_##name params {                                                                \
        switch (clipcap_cpu_level()) {                                                     \
        case CLIPCAP_CPU_AVX512: return name##_avx512 args;                                \
        case CLIPCAP_CPU_AVX2: return name##_avx2 args;                                    \
        default: return name##_portable args;                                              \
        }                                                                                  \
    }
#else
// aarch64 and others: the baseline build (NEON is part of aarch64's baseline).
#define DISPATCHED(ret, name, params, args) \
    ret cvk_##name params { return name##_body args; }
#endif

DISPATCHED(void, activation_rows,
           (int activation, float scale, const float *x, int64_t ldx, const float *bias, float *out,
            int64_t ldo, int64_t rows, int64_t n),
           (activation, scale, x, ldx, bias, out, ldo, rows, n))
DISPATCHED(void, layer_norm_rows,
           (const float *x, const float *gamma, const float *beta, float eps, float *out, int64_t rows, int64_t d),
           (x, gamma, beta, eps, out, rows, d))
DISPATCHED(void, l2_normalize_rows, (const float *x, float *out, int64_t rows, int64_t d), (x, out, rows, d))
DISPATCHED(void, softmax_rows, (const float *x, float *out, int64_t rows, int64_t d), (x, out, rows, d))
DISPATCHED(double, exp_shifted, (const float *x, float shift, float *out, int64_t count), (x, shift, out, count))
DISPATCHED(void, attention_head,
           (const float *q, const float *k, const float *v, float *out, int64_t queries, int64_t keys,
            int64_t model, int64_t head_dim, float scale, int causal, float *scores),
           (q, k, v, out, queries, keys, model, head_dim, scale, causal, scores))

#if defined(__x86_64__)
TARGET_AVX2 static void f16_to_f32_f16c(const void *src, float *dst, int64_t count) {
    f16_to_f32_body(src, dst, count, 1);
}
void cvk_f16_to_f32(const void *src, float *dst, int64_t count) {
    if (clipcap_cpu_level() >= CLIPCAP_CPU_AVX2) f16_to_f32_f16c(src, dst, count);
    else f16_to_f32_body(src, dst, count, 0);
}
#else
void cvk_f16_to_f32(const void *src, float *dst, int64_t count) { f16_to_f32_body(src, dst, count, 0); }
#endif
