#pragma once
// int8 micro-kernels for clipcap's `linear_i8` (docs/INT8.md): AVX-512 VNNI, AVX2 and portable C
// variants, the one for the CPU chosen at each call (clipcap_cpu_level(), docs/BACKENDS.md).
//
// Swift's SIMD integer types cannot reach vpmaddubsw / vpmaddwd (they spill per element), so
// the inner loops live here. Every function only reads its inputs and writes its outputs; no
// global state, safe to call from several threads on disjoint output ranges.
//
// Exactness: weights and activations are symmetric int8 in [-127, 127]. The products use the
// ggml sign trick: vpmaddubsw(|x| as u8, sign(w, x) as s8). Each 16-bit pair sum is at most
// 2 * 127 * 127 = 32258 < 32767, so vpmaddubsw never saturates; vpmaddwd then widens to int32.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the AVX2 kernels run on this CPU (AVX2, FMA and F16C, not capped by CLIPCAP_CPU), else
/// 0: the functions below then run their portable C variants (same results, slower).
int ci8_cpu_has_avx2(void);

/// "avx512-vnni", "avx2" or "portable": the per_channel kernel that runs on this CPU.
const char *ci8_kernel_name(void);

/// Symmetric quantization of `m` rows of `k` floats: for each group of `group` consecutive
/// elements of a row (group = k for one scale per row), scale = max|x| / 127 and
/// q = round(x / scale) in [-127, 127]. `q` is [m, k]; `scales` is [m, ceil(k / group)].
/// An all-zero group gets scale 0 and q = 0.
void ci8_quantize_rows(const float *x, int64_t m, int64_t k, int64_t group,
                       int8_t *q, float *scales);

/// out[r, n] = sx[r] * sw[n] * sum_k xq[r, k] * w[n, k] + bias[n] for rows r in [0, m)
/// and output channels n in [n0, n1). `w` is [N, k] row-major (straight from the model file),
/// `sw` per-channel weight scales [N], `sx` per-row activation scales [m], `bias` [N] or NULL.
/// `out` has row stride `ldo`.
void ci8_linear_per_channel(const int8_t *xq, const float *sx, int64_t m, int64_t k,
                            const int8_t *w, const float *sw, const float *bias,
                            int64_t n0, int64_t n1, float *out, int64_t ldo);

/// Block-wise variant: scales per `block` consecutive elements of k on both sides.
/// `sx` is [m, nb], `sw` is [N, nb] with nb = ceil(k / block); `block` must be a multiple of 32.
void ci8_linear_block(const int8_t *xq, const float *sx, int64_t m, int64_t k, int64_t block,
                      const int8_t *w, const float *sw, const float *bias,
                      int64_t n0, int64_t n1, float *out, int64_t ldo);

// MARK: AVX-512 VNNI (int8_vnni.c); on other CPUs the same results through portable C.

/// 1 when this CPU executes AVX-512 F/BW/VL/DQ and VNNI (vpdpbusd), else 0.
int ci8_cpu_has_avx512_vnni(void);

/// sums[r] = sum_k w[r, k] for the n rows of w [n, k] (the VNNI kernel's shift correction).
void ci8_row_sums(const int8_t *w, int64_t n, int64_t k, int32_t *sums);

/// u[i] = q[i] + 128 as unsigned bytes (in place allowed: u may alias q).
void ci8_shift_to_unsigned(const int8_t *q, int64_t count, uint8_t *u);

/// Per-channel linear with vpdpbusd: out[r, n] = sx[r] * sw[n] *
/// (sum_k xu[r, k] * w[n, k] - 128 * wsum[n]) + bias[n], rows [0, m), channels [n0, n1).
/// `xu` are the shifted activations (ci8_shift_to_unsigned), `wsum` the row sums of `w`.
void ci8_linear_per_channel_vnni(const uint8_t *xu, const float *sx, int64_t m, int64_t k,
                                 const int8_t *w, const int32_t *wsum, const float *sw,
                                 const float *bias, int64_t n0, int64_t n1,
                                 float *out, int64_t ldo);

/// Exact int32 dot product through the VNNI path (shift + row-sum correction), for tests.
int32_t ci8_dot_vnni(const int8_t *a, const int8_t *b, int64_t k);

/// Exact int32 dot product of two int8 vectors of length k with the same AVX2 path the linear
/// kernels use (for tests of the saturation worst case).
int32_t ci8_dot(const int8_t *a, const int8_t *b, int64_t k);

#ifdef __cplusplus
}
#endif
