import ClipCap
import Foundation

/// `clipcapctl --version`: the engine's version, the `.ccm` format version it reads and writes,
/// the CPU and which of the SIMD features the kernels use it has, and each backend's state.
enum VersionInfo {
    static var text: String {
        ClipCap.registerStandardBackends()
        var lines = ["clipcapctl \(ClipCap.version) (ClipCap engine \(ClipCap.version), .ccm format version \(CCMFormatSpec.version))"]
        lines.append("cpu: \(CPUFeatures.modelName) (\(ThreadCount.cores) core(s) available)")
        let present = CPUFeatures.used.filter { CPUFeatures.flags.contains($0) }
        let missing = CPUFeatures.used.filter { !CPUFeatures.flags.contains($0) }
        lines.append("cpu features the kernels use: present \(present.isEmpty ? "none" : present.joined(separator: " "))"
                     + (missing.isEmpty ? "" : "; absent \(missing.joined(separator: " "))"))
        for b in BackendRegistry.shared.all {
            let state = b.availability.available ? "available" : "unavailable: \(b.availability.reason)"
            lines.append("backend \(b.name): \(b.summary) [\(state)]")
        }
        return lines.joined(separator: "\n")
    }
}

/// What `/proc/cpuinfo` says about the CPU (Linux; empty elsewhere).
enum CPUFeatures {
    /// The instruction-set extensions some kernel of this build uses (OpenBLAS has its own
    /// run-time dispatch on top).
    static let used = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni"]

    static let cpuinfo: String = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""

    static var flags: Set<String> {
        guard let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    static var modelName: String {
        guard let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return "unknown CPU" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
}
