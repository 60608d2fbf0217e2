#pragma once
// Few-row float products for clipcap's BLAS backend (docs/BACKENDS.md).
//
// OpenBLAS's sgemm packs both operands for every call, which is right for CLIP's 50-row
// products but makes 2-8 rows (the batched decode of several candidates) cost nearly one full
// weight pass per row. These kernels read each weight element once for all rows: the product
// stays memory-bound, so five candidates cost about what one does.
//
// Every function only reads its inputs and writes its outputs; safe to call from several
// threads on disjoint output column ranges.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Largest row count the kernels are meant for (more rows are correct, just no faster than
/// sgemm): the decode of up to 8 candidates and the prefix prefill (10 rows).
enum { CF32_MAX_ROWS = 16 };

/// 1 when the AVX-512 path runs on this CPU, 0 when the portable (auto-vectorised AVX2) path does.
int cf32_uses_avx512(void);

/// `io` weights ([K, N] row-major, row stride ldw): y[r, n] = sum_{k in [k0, k1)} x[r, k] * w[k, n]
/// for rows r in [0, m) and columns n in [n0, n1), y overwritten. x is [m, k] (row stride k); y
/// has row stride ldy. [k0, k1) = [0, k) is the whole product; several threads each take a
/// contiguous slice of the weight's rows, the one order in which it streams from memory at full
/// speed, and their partial sums are added with cf32_add_into.
void cf32_rows_io_range(const float *x, int64_t m, int64_t k, int64_t k0, int64_t k1,
                        const float *w, int64_t ldw, int64_t n0, int64_t n1, float *y, int64_t ldy);

/// cf32_rows_io_range for f16 weights (IEEE half, widened in registers): half the bytes of an
/// f32 weight stream from memory, which bounds these products.
void cf16_rows_io_range(const float *x, int64_t m, int64_t k, int64_t k0, int64_t k1,
                        const uint16_t *w, int64_t ldw, int64_t n0, int64_t n1, float *y, int64_t ldy);

/// dst[i] += src[i] for `count` floats.
void cf32_add_into(float *dst, const float *src, int64_t count);

/// `oi` weights ([N, K] row-major): y[r, n] = sum_k x[r, k] * w[n, k], columns n in [n0, n1).
void cf32_rows_oi(const float *x, int64_t m, int64_t k, const float *w,
                  int64_t n0, int64_t n1, float *y, int64_t ldy);

/// cf32_rows_oi for f16 weights (widened in registers; m at most CF32_MAX_ROWS is the intended use).
void cf16_rows_oi(const float *x, int64_t m, int64_t k, const uint16_t *w,
                  int64_t n0, int64_t n1, float *y, int64_t ldy);

/// One (batch, head) of attention: out[i] = softmax(scale · q[i]·k[j]ᵀ over visible j) · v, for
/// rows `model` floats apart (a head's columns addressed in place). Causal: query i sees keys
/// [0, i + keys - queries]. head_dim must be a multiple of 16, at most 128. `scores` holds at
/// least `keys` floats.
void cf32_attention_head(const float *q, const float *k, const float *v, float *out,
                         int64_t queries, int64_t keys, int64_t model, int64_t head_dim,
                         float scale, int causal, float *scores);

/// Floats of the `pack` scratch cf32_panel_gemm_io needs per calling thread (64-byte aligned).
enum { CF32_PANEL_PACK_FLOATS = 256 * 32 };

/// Many-row products with `io` weights ([K, N] row-major, row stride ldw) stored as f32
/// (`w_is_f16` = 0) or IEEE f16 (1): y[r, n] = sum_k x[r, k] * w[k, n] for rows [0, m) and
/// columns [n0, n1). x is [m, k] (row stride k), y has row stride ldy. Each 32-column panel is
/// widened into `pack` (CF32_PANEL_PACK_FLOATS floats, 64-byte aligned, one per thread) and
/// used by every 10-row tile; the panel two ahead is prefetched meanwhile. Threads take
/// disjoint column ranges (multiples of 32 keep panels whole). Needs AVX-512 F/DQ/VL/BW and
/// F16C: check cf32_panel_gemm_supported() (1 when present) first.
int cf32_panel_gemm_supported(void);

void cf32_panel_gemm_io(const float *x, int64_t m, int64_t k, const void *w, int w_is_f16, int64_t ldw,
                        int64_t n0, int64_t n1, float *y, int64_t ldy, float *pack);

#ifdef __cplusplus
}
#endif
