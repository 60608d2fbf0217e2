import CBLAS
import CCPUFeatures
import Foundation
import KernelSupport

/// Makes sure OpenBLAS runs its AVX2/AVX-512 kernels.
///
/// OpenBLAS 0.3.21 chooses kernels from the CPU model at load time; on CPUs it does not know
/// (this project's Xeon machines: family 6, model 207) it falls back to "Prescott" (SSE3),
/// measured at ~21 GFLOP/s instead of ~95 for sgemm at ViT shapes. When the selected core is such
/// a pre-AVX2 fallback, the CPU has AVX2 + FMA and the user has not set `OPENBLAS_CORETYPE`, we
/// set it (`SkylakeX` with AVX-512, else `Haswell`) and re-run OpenBLAS's selection, once per
/// process, before the backend makes its first BLAS call.
enum CoreSelection {
    /// What happened, for `BLASBackend.summary` (empty when nothing was changed).
    static let outcome: String = select()

    /// OpenBLAS cores that lack AVX2 kernels.
    static let fallbackCores: Set<String> = [
        "prescott", "core2", "penryn", "dunnington", "nehalem", "sandybridge", "atom", "nano",
        "katmai", "coppermine", "northwood", "banias", "athlon", "opteron", "opteron_sse3",
        "barcelona", "bobcat", "bulldozer", "piledriver", "steamroller", "unknown",
    ]

    static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    private static func select() -> String {
        let before = coreName
        guard fallbackCores.contains(before.lowercased()),
              ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              clipcap_cpu_level() >= CLIPCAP_CPU_AVX2 else { return "" }
        let wanted = clipcap_cpu_level() >= CLIPCAP_CPU_AVX512 ? "SkylakeX" : "Haswell"
        setenv("OPENBLAS_CORETYPE", wanted, 0)
        guard clipcap_openblas_reselect_core() != 0 else { return "" }
        return "kernels switched from \(before) to \(coreName): OpenBLAS did not recognise this CPU"
    }
}
