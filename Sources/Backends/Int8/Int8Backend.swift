import Foundation
import CCMFormat
import CInt8Kernels
import Engine
import KernelSupport

/// The SIMD int8 backend: `linear_i8` on AVX2 micro-kernels (activations quantized per row on
/// the fly, int32 accumulation with `vpmaddubsw` and the sign trick, scales applied in the
/// epilogue), `conv2d_i8`, and `gather` on int8 tables. It runs nothing else: its chain
/// (`fallbackBackend`) gives every float operator to `blas`, and what `blas` declines to
/// `naive`, node by node at load, and `--verbose` / `profile` name the backend of each node.
/// See docs/INT8.md and docs/BACKENDS.md.
public final class Int8Backend: Backend {
    public let name = "int8"
    public var summary: String {
        let kernel = kernelPath.usesVNNI ? "AVX-512 VNNI vpdpbusd" : Int8CPU.baseKernel
        return "int8 linear_i8 and conv2d_i8 (\(kernel), per-row activation quantization), int8 gather; other ops on its chain (blas, then naive)"
    }

    /// The micro-kernel for `per_channel` products.
    public let kernelPath: Int8KernelPath
    /// The int8 kernels; float operators are on the chain's next backend.
    public let kernels: KernelTable

    /// Float operators run on `blas` (then `naive`): see `BackendChain`.
    public var fallbackBackend: String? { "blas" }

    public init(kernelPath: Int8KernelPath = .automatic) {
        self.kernelPath = kernelPath
        let perChannel = kernelPath.usesVNNI ? "AVX-512 VNNI vpdpbusd (per_channel), AVX2 (block)" : Int8CPU.baseKernel
        kernels = KernelTable([
            KernelEntry("linear_i8", weightTypes: [.i8],
                        note: perChannel + "; per_channel (per-row x) or block (per-block x); weights from the mmap") { try Int8Linear($0, path: kernelPath) },
            KernelEntry("gather", weightTypes: [.i8], note: "int8 tables dequantized per row read (float tables: next backend)") { try Int8Gather($0) },
            KernelEntry("conv2d_i8", weightTypes: [.i8], note: "unfolded rows quantized per pixel, linear_i8's kernels, bias+relu in the transpose") { try Int8Conv2d($0, path: kernelPath) },
        ])
    }

    /// Available on every CPU: the kernels run AVX-512 VNNI, AVX2 or portable C, chosen at run
    /// time (docs/BACKENDS.md); the reason names the one this CPU runs.
    public var availability: (available: Bool, reason: String) {
        (true, Int8CPU.hasAVX2 ? "AVX2 present" : "no AVX2 on this CPU (or CLIPCAP_CPU=portable): portable C int8 kernels, slower")
    }
}

/// The runtime CPU check, done once.
enum Int8CPU {
    static let hasAVX2: Bool = ci8_cpu_has_avx2() != 0
    static let hasVNNI: Bool = ci8_cpu_has_avx512_vnni() != 0
    /// The kernel `per_channel` runs without VNNI and `block` always runs.
    static var baseKernel: String { hasAVX2 ? "AVX2 vpmaddubsw + sign trick" : "portable C" }
}

/// Which micro-kernel runs `per_channel` products.
public enum Int8KernelPath: String, Sendable, CaseIterable {
    /// AVX-512 VNNI when the CPU has it, else AVX2. `CLIPCAP_INT8_KERNEL=avx2` forces AVX2
    /// (to compare the two on one machine).
    case automatic
    /// `vpmaddubsw` with the sign trick.
    case avx2
    /// `vpdpbusd` on shifted activations (falls back to AVX2 on CPUs without VNNI).
    case vnni

    var usesVNNI: Bool {
        switch self {
        case .avx2: return false
        case .vnni: return Int8CPU.hasVNNI
        case .automatic:
            if let forced = ProcessInfo.processInfo.environment["CLIPCAP_INT8_KERNEL"], forced == "avx2" { return false }
            return Int8CPU.hasVNNI
        }
    }
}
