import Foundation

/// The CPUs this process may use: the container's CPU quota when there is one (cgroup v2
/// `cpu.max`, cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), rounded up, and never more
/// than the cores the scheduler lets it run on. A pod limited to 2 CPUs on a 64-core node gets
/// 2 threads, not 64 (which would thrash under CFS throttling).
public enum CPUQuota {
    /// `min(cores, ceil(quota))`, at least 1.
    public static func availableCPUs(cgroupRoot: String = "/sys/fs/cgroup") -> Int {
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        guard let quota = quota(cgroupRoot: cgroupRoot) else { return cores }
        return max(1, min(cores, Int(quota.rounded(.up))))
    }

    /// The quota in CPUs, or nil when unlimited or unknown.
    public static func quota(cgroupRoot: String = "/sys/fs/cgroup") -> Double? {
        let read = { (path: String) in (try? String(contentsOfFile: cgroupRoot + "/" + path, encoding: .utf8)) }
        // cgroup v2: the process's own group (from /proc/self/cgroup), then the root of the mount.
        var v2Candidates = ["cpu.max"]
        if cgroupRoot == "/sys/fs/cgroup", let own = ownCgroupV2Path(), own != "/" { v2Candidates.insert(own + "/cpu.max", at: 0) }
        for path in v2Candidates {
            if let text = read(path) { return parseCPUMax(text) }
        }
        for folder in ["cpu", "cpu,cpuacct", "cpuacct,cpu"] {
            if let quota = read(folder + "/cpu.cfs_quota_us"), let period = read(folder + "/cpu.cfs_period_us") {
                return parseCFS(quota: quota, period: period)
            }
        }
        return nil
    }

    /// `cpu.max`: `"max 100000"` (no limit) or `"150000 100000"` (1.5 CPUs).
    public static func parseCPUMax(_ text: String) -> Double? {
        let parts = text.split(whereSeparator: \.isWhitespace)
        guard parts.count >= 1, parts[0] != "max", let quota = Double(parts[0]), quota > 0 else { return nil }
        let period = parts.count >= 2 ? Double(parts[1]) ?? 100_000 : 100_000
        return period > 0 ? quota / period : nil
    }

    /// cgroup v1: a quota of -1 is no limit.
    public static func parseCFS(quota: String, period: String) -> Double? {
        guard let q = Double(quota.trimmingCharacters(in: .whitespacesAndNewlines)), q > 0,
              let p = Double(period.trimmingCharacters(in: .whitespacesAndNewlines)), p > 0 else { return nil }
        return q / p
    }

    /// The `0::/path` line of /proc/self/cgroup (cgroup v2's unified hierarchy).
    private static func ownCgroupV2Path() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") { return String(line.dropFirst(3)) }
        return nil
    }
}
