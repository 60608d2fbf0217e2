#pragma once
// Run-time CPU dispatch for clipcap's C kernels (docs/BACKENDS.md, "CPU dispatch").
//
// The package is compiled without any target-CPU flag (SwiftPM refuses unsafe flags in a
// dependency), so every kernel that uses AVX2 or AVX-512 carries its own
// `__attribute__((target(...)))` and is only called after the CPU was checked here. One level
// per call site keeps the choice in one place: the kernels switch on clipcap_cpu_level().

#ifdef __cplusplus
extern "C" {
#endif

/// The instruction-set levels the kernels are written for, lowest first.
enum {
    /// Portable C, auto-vectorised for the compile target's baseline (SSE2 on x86-64, NEON on aarch64).
    CLIPCAP_CPU_PORTABLE = 0,
    /// x86-64 with AVX2, FMA and F16C (Haswell, Zen 1 and later).
    CLIPCAP_CPU_AVX2 = 1,
    /// The AVX2 level plus AVX-512 F, DQ, VL and BW (Skylake-X, Ice Lake, Zen 4 and later).
    CLIPCAP_CPU_AVX512 = 2,
};

/// The highest level this CPU (and its operating system) supports.
int clipcap_cpu_detected_level(void);

/// The level the kernels use: the detected level, capped by `CLIPCAP_CPU=portable|avx2|avx512`
/// in the environment (read once) or by clipcap_cpu_set_limit. Cheap: one relaxed atomic load
/// after the first call.
int clipcap_cpu_level(void);

/// Caps the level the kernels use from now on (a level below the detected one; -1 removes the
/// cap, back to the environment's). For tests that compare the paths on one machine. Choices
/// that callers cached before (e.g. which product kernel a backend prepared) are unaffected.
void clipcap_cpu_set_limit(int level);

/// 1 when the CPU has AVX-512 VNNI (vpdpbusd) on top of the AVX-512 level, else 0; honours
/// the same cap (0 below CLIPCAP_CPU_AVX512).
int clipcap_cpu_has_avx512_vnni(void);

/// "portable", "avx2" or "avx512" (also the names CLIPCAP_CPU accepts); "portable" for
/// anything else.
const char *clipcap_cpu_level_name(int level);

#ifdef __cplusplus
}
#endif
