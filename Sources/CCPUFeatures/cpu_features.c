// CPU feature detection for the kernels' run-time dispatch (see include/cpu_features.h).

#include "cpu_features.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static int detect(void) {
#if defined(__x86_64__)
    // compiler-rt's cpu model also checks that the OS saves the AVX / AVX-512 state (XGETBV).
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")))
        return CLIPCAP_CPU_PORTABLE;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
        return CLIPCAP_CPU_AVX512;
    return CLIPCAP_CPU_AVX2;
#else
    return CLIPCAP_CPU_PORTABLE;
#endif
}

static int detect_vnni(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") ? 1 : 0;
#else
    return 0;
#endif
}

/// The level named by CLIPCAP_CPU, or -1 when unset or not a level name.
static int environment_limit(void) {
    const char *value = getenv("CLIPCAP_CPU");
    if (!value) return -1;
    for (int level = CLIPCAP_CPU_PORTABLE; level <= CLIPCAP_CPU_AVX512; level++)
        if (strcmp(value, clipcap_cpu_level_name(level)) == 0) return level;
    return -1;
}

// -2: not computed yet. Computing twice in a race gives the same values, so no lock is needed.
static _Atomic int detected = -2;
static _Atomic int vnni = -2;
static _Atomic int environment = -2;
static _Atomic int limit = -1;

int clipcap_cpu_detected_level(void) {
    int d = atomic_load_explicit(&detected, memory_order_relaxed);
    if (d == -2) {
        d = detect();
        atomic_store_explicit(&detected, d, memory_order_relaxed);
    }
    return d;
}

int clipcap_cpu_level(void) {
    int level = clipcap_cpu_detected_level();
    int e = atomic_load_explicit(&environment, memory_order_relaxed);
    if (e == -2) {
        e = environment_limit();
        atomic_store_explicit(&environment, e, memory_order_relaxed);
    }
    int cap = atomic_load_explicit(&limit, memory_order_relaxed);
    if (cap < 0) cap = e;
    return cap >= 0 && cap < level ? cap : level;
}

void clipcap_cpu_set_limit(int level) {
    atomic_store_explicit(&limit, level < 0 ? -1 : level, memory_order_relaxed);
}

int clipcap_cpu_has_avx512_vnni(void) {
    if (clipcap_cpu_level() < CLIPCAP_CPU_AVX512) return 0;
    int v = atomic_load_explicit(&vnni, memory_order_relaxed);
    if (v == -2) {
        v = detect_vnni();
        atomic_store_explicit(&vnni, v, memory_order_relaxed);
    }
    return v;
}

const char *clipcap_cpu_level_name(int level) {
    switch (level) {
    case CLIPCAP_CPU_AVX2: return "avx2";
    case CLIPCAP_CPU_AVX512: return "avx512";
    default: return "portable";
    }
}
