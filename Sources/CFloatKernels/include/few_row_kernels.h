#pragma once
// The few-row float products (1 to CF32_MAX_ROWS rows of x against a weight matrix) chosen for
// this CPU at run time: the AVX-512 kernels of float_kernels.c where the CPU has AVX-512, the
// AVX2 + FMA + F16C ones of few_row_avx2.c where it has only those (docs/BACKENDS.md, "Few-row
// products"). Each entry has the contract of the float_kernels.h function of the same role.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One instruction set's few-row kernels.
typedef struct {
    /// "avx512" or "avx2", for summaries and benchmarks.
    const char *name;
    /// As cf32_rows_io_range: `io` weights [K, N], weight rows [k0, k1), columns [n0, n1).
    void (*f32_rows_io_range)(const float *x, int64_t m, int64_t k, int64_t k0, int64_t k1,
                              const float *w, int64_t ldw, int64_t n0, int64_t n1, float *y, int64_t ldy);
    /// As cf16_rows_io_range: the same with IEEE f16 weights, widened in registers.
    void (*f16_rows_io_range)(const float *x, int64_t m, int64_t k, int64_t k0, int64_t k1,
                              const uint16_t *w, int64_t ldw, int64_t n0, int64_t n1, float *y, int64_t ldy);
    /// As cf32_rows_oi: `oi` weights [N, K], columns [n0, n1).
    void (*f32_rows_oi)(const float *x, int64_t m, int64_t k, const float *w,
                        int64_t n0, int64_t n1, float *y, int64_t ldy);
    /// As cf16_rows_oi.
    void (*f16_rows_oi)(const float *x, int64_t m, int64_t k, const uint16_t *w,
                        int64_t n0, int64_t n1, float *y, int64_t ldy);
    /// As cf32_add_into: dst[i] += src[i].
    void (*add_into)(float *dst, const float *src, int64_t count);
} CFFewRowKernels;

/// The kernels for this CPU at the level clipcap_cpu_level() allows (so `CLIPCAP_CPU=avx2`
/// selects the AVX2 ones on an AVX-512 machine), or NULL when it has neither level (the caller
/// then uses OpenBLAS).
const CFFewRowKernels *cf_few_row_kernels_for_cpu(void);

#ifdef __cplusplus
}
#endif
