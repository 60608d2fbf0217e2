#pragma once
// Element-wise and row-wise float loops of clipcap's BLAS and int8 backends and of the decoding
// loop: activations (with an optional bias), layer norm, L2 normalisation, softmax and the
// shifted exponentials of log-softmax / sampling (docs/BACKENDS.md).
//
// Written once in portable C and compiled three times (AVX-512, AVX2+FMA with function target
// attributes, and the build's baseline: SSE2 on x86-64, NEON on aarch64); each call picks the
// variant for clipcap_cpu_level(). Accuracy is the same on every path (the `exp` is a Cephes
// polynomial, ~2 ulp; tanh ~3 ulp; gelu_erf ~2e-7 relative); only the rounding of fused
// versus separate multiply-adds differs between them.
//
// Every function only reads its inputs and writes its outputs (in place allowed where said);
// safe to call from several threads on disjoint rows.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The activations of `linear` epilogues and of the element-wise ops.
enum {
    CVK_ACTIVATION_NONE = 0,
    CVK_ACTIVATION_RELU = 1,
    CVK_ACTIVATION_TANH = 2,
    /// x · sigmoid(1.702 x) (CLIP).
    CVK_ACTIVATION_QUICK_GELU = 3,
    /// 0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³))) (GPT-2), computed as x · sigmoid(2u).
    CVK_ACTIVATION_GELU_TANH = 4,
    /// 0.5 x (1 + erf(x / √2)).
    CVK_ACTIVATION_GELU_ERF = 5,
    /// out = x · s (the `scale` op; `scale` is the factor).
    CVK_ACTIVATION_SCALE = 6,
};

/// out[r, i] = f(x[r, i] + bias[i]) for rows r in [0, rows), i in [0, n); x has row stride ldx,
/// out ldo; `bias` (n floats) may be NULL. `scale` is only read by CVK_ACTIVATION_SCALE. In
/// place (out == x, ldo == ldx) allowed. An unknown activation copies (plus bias).
void cvk_activation_rows(int activation, float scale, const float *x, int64_t ldx, const float *bias,
                         float *out, int64_t ldo, int64_t rows, int64_t n);

/// Layer norm of `rows` contiguous rows of `d` floats: (x - mean) / sqrt(var + eps) · gamma + beta,
/// with the biased variance (PyTorch's). In place allowed.
void cvk_layer_norm_rows(const float *x, const float *gamma, const float *beta, float eps,
                         float *out, int64_t rows, int64_t d);

/// out = x / ‖x‖₂ per row of `d` floats. In place allowed.
void cvk_l2_normalize_rows(const float *x, float *out, int64_t rows, int64_t d);

/// out = softmax(x) per row of `d` floats (max subtracted first). In place allowed.
void cvk_softmax_rows(const float *x, float *out, int64_t rows, int64_t d);

/// out[i] = e^(x[i] - shift), exactly 0 where x[i] is -infinity (a banned token); returns the
/// sum of the results, accumulated in double. `out` may be NULL (sum only) or equal x.
double cvk_exp_shifted(const float *x, float shift, float *out, int64_t count);

/// One (batch, head) of attention, any head width: out[i] = softmax(scale · q[i]·k[j]ᵀ over the
/// visible j) · v, rows `model` floats apart (a head's columns addressed in place). Causal: query
/// i sees keys [0, i + keys - queries]; a query that sees none gets zeros. `scores` holds at
/// least `keys` floats. (CFloatKernels' cf32_attention_head is the AVX-512 one for widths that are
/// multiples of 16; this one is for every other CPU and width.)
void cvk_attention_head(const float *q, const float *k, const float *v, float *out,
                        int64_t queries, int64_t keys, int64_t model, int64_t head_dim,
                        float scale, int causal, float *scores);

/// dst[i] = src[i] for `count` IEEE half values (2-byte aligned or not) widened to float, exactly
/// (subnormals, infinities and NaNs included); F16C's vcvtph2ps where the CPU has it.
void cvk_f16_to_f32(const void *src, float *dst, int64_t count);

/// One IEEE half widened to float, exactly; branch-free so that loops over it vectorise.
static inline float cvk_half_to_float(uint16_t h) {
    // Move exponent and mantissa into place and rebias; infinities/NaNs get the top exponent,
    // zeros and subnormals are renormalised by one float subtraction (the "magic" method).
    union { uint32_t u; float f; } o, magic, denormal;
    o.u = (uint32_t)(h & 0x7fffu) << 13;
    const uint32_t exponent = o.u & 0x0f800000u;
    o.u += (uint32_t)(127 - 15) << 23;
    magic.u = 113u << 23;
    denormal.u = o.u + (1u << 23);
    denormal.f -= magic.f;
    o.u = exponent == 0x0f800000u ? o.u + ((uint32_t)(128 - 16) << 23) : (exponent == 0 ? denormal.u : o.u);
    o.u |= (uint32_t)(h & 0x8000u) << 16;
    return o.f;
}

#ifdef __cplusplus
}
#endif
