import Foundation
import CCMFormat
import CInt8Kernels
import Engine
import KernelSupport
import BLASBackend
import NaiveBackend

/// The SIMD int8 backend: `linear_i8` on AVX2 micro-kernels (activations quantized per row on
/// the fly, int32 accumulation with `vpmaddubsw` and the sign trick, scales applied in the
/// epilogue) and `gather` on int8 tables. Every other operator is delegated to the BLAS
/// backend's kernels, or to the naive backend when BLAS declines, so an int8 model runs without
/// silent executor fallbacks. See docs/INT8.md.
public final class Int8Backend: Backend {
    public let name = "int8"
    public var summary: String {
        let kernel = kernelPath.usesVNNI ? "AVX-512 VNNI vpdpbusd" : Int8CPU.baseKernel
        return "int8 linear_i8 (\(kernel), per-row activation quantization); other ops via blas"
    }

    /// Float operators go to these, in order.
    private let delegates: [any Backend]
    /// The micro-kernel for `per_channel` products.
    public let kernelPath: Int8KernelPath

    public init(kernelPath: Int8KernelPath = .automatic) {
        delegates = [BLASBackend(), NaiveBackend()]
        self.kernelPath = kernelPath
    }

    /// Available on every CPU: the kernels run AVX-512 VNNI, AVX2 or portable C, chosen at run
    /// time (docs/BACKENDS.md); the reason names the one this CPU runs.
    public var availability: (available: Bool, reason: String) {
        (true, Int8CPU.hasAVX2 ? "AVX2 present" : "no AVX2 on this CPU (or CLIPCAP_CPU=portable): portable C int8 kernels, slower")
    }

    public var capabilities: [OpCapability] {
        var list = [
            OpCapability(op: "linear_i8", weightTypes: [.i8],
                         note: (kernelPath.usesVNNI ? "AVX-512 VNNI vpdpbusd (per_channel), AVX2 (block)" : Int8CPU.baseKernel) + "; per_channel (per-row x) or block (per-block x); weights from the mmap"),
            OpCapability(op: "gather", weightTypes: [.i8], note: "int8 tables dequantized per row read"),
            OpCapability(op: "conv2d_i8", weightTypes: [.i8], note: "unfolded rows quantized per pixel, linear_i8's kernels, bias+relu in the transpose"),
        ]
        let own = Set(list.map(\.op))
        if let blas = delegates.first {
            for c in blas.capabilities where !own.contains(c.op) || c.op == "gather" {
                list.append(OpCapability(op: c.op, weightTypes: c.weightTypes, note: "via blas: " + c.note))
            }
        }
        return list
    }

    public func makeKernel(for request: KernelRequest) throws -> (any Kernel)? {
        switch request.node.op {
        case "linear_i8":
            if let kernel = try Int8Linear(request, path: kernelPath) { return kernel }
        case "gather":
            if let kernel = try Int8Gather(request) { return kernel }
        case "conv2d_i8":
            if let kernel = try Int8Conv2d(request, path: kernelPath) { return kernel }
        default:
            break
        }
        for delegate in delegates {
            if let kernel = try delegate.makeKernel(for: request) { return kernel }
        }
        return nil
    }

    /// Passes the thread count to the delegates (OpenBLAS); the int8 kernels use the session pool.
    public func setThreads(_ count: Int) {
        for delegate in delegates { delegate.setThreads(count) }
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
