/* The k-range contract the io range kernels share (float_kernels.c's AVX-512 ones and
 * few_row_avx2.c's AVX2 ones): [k0, k1) is clamped to [0, k), and an empty range writes zeros
 * into y's columns [n0, n1) of all m rows, so a caller summing ranges never reads garbage.
 * Internal to CFloatKernels; plain C, so it inlines into any target's kernel. */
#ifndef CLIPCAP_K_RANGE_H
#define CLIPCAP_K_RANGE_H

#include <stdint.h>

/* Clamps *k0 and *k1; returns 0 (after zeroing y's columns) when nothing is left to compute. */
static inline __attribute__((always_inline)) int
k_range_clamp(int64_t m, int64_t k, int64_t *k0, int64_t *k1, int64_t n0, int64_t n1, float *y, int64_t ldy) {
    if (*k0 < 0) *k0 = 0;
    if (*k1 > k) *k1 = k;
    if (*k1 > *k0) return 1;
    for (int64_t r = 0; r < m; r++)
        for (int64_t n = n0; n < n1; n++) y[r * ldy + n] = 0.0f;
    return 0;
}

#endif
