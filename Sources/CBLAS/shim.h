#include <cblas.h>
/* openblas_set_num_threads / openblas_get_config / openblas_get_corename are OpenBLAS
   extensions declared in cblas.h */

/* DYNAMIC_ARCH builds of OpenBLAS pick their kernels once, at load time, from the CPU model.
   OpenBLAS 0.3.21 (Debian 12) does not know recent CPUs (e.g. Xeon family 6 model 207) and
   falls back to its SSE3 "Prescott" kernels, 3-4x slower than its AVX2 ones. These helpers let
   the BLAS backend re-run that selection with OPENBLAS_CORETYPE set. The two OpenBLAS entry
   points are declared weak: with a build that lacks them, the helper reports failure. */
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));

/* Re-runs OpenBLAS's kernel selection (which reads OPENBLAS_CORETYPE). Returns 1 on success,
   0 when this OpenBLAS is not a DYNAMIC_ARCH build. Call before any BLAS routine runs. */
static inline int clipcap_openblas_reselect_core(void) {
    if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit) return 0;
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    return 1;
}

