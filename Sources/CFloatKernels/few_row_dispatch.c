// Picks the few-row kernels for this CPU (include/few_row_kernels.h).

#include "few_row_kernels.h"

#include "cpu_features.h"
#include "float_kernels.h"

#if defined(__x86_64__)

/// few_row_avx2.c.
extern const CFFewRowKernels cf_few_row_kernels_avx2;

/// float_kernels.c's AVX-512 functions, unchanged.
static const CFFewRowKernels avx512_kernels = {
    .name = "avx512",
    .f32_rows_io_range = cf32_rows_io_range,
    .f16_rows_io_range = cf16_rows_io_range,
    .f32_rows_oi = cf32_rows_oi,
    .f16_rows_oi = cf16_rows_oi,
    .add_into = cf32_add_into,
};

const CFFewRowKernels *cf_few_row_kernels_for_cpu(void) {
    const int level = clipcap_cpu_level();
    if (level >= CLIPCAP_CPU_AVX512) return &avx512_kernels;
    if (level >= CLIPCAP_CPU_AVX2) return &cf_few_row_kernels_avx2;
    return 0;
}

#else

const CFFewRowKernels *cf_few_row_kernels_for_cpu(void) { return 0; }

#endif
