import Foundation

/// This process's memory as Linux reports it in /proc/self/status, in MiB.
/// RssFile counts mapped-file pages (weights used from the mmap, reclaimable); RssAnon counts
/// memory the process allocated. Peak is the high-water mark of the resident set.
public struct ProcessMemory: Sendable {
    public var residentMiB = 0.0
    public var peakResidentMiB = 0.0
    public var anonymousMiB = 0.0
    public var fileMiB = 0.0

    /// Reads the current figures (zeros where /proc is unavailable).
    public static func current() -> ProcessMemory {
        var m = ProcessMemory()
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return m }
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let kb = Double(parts[1]) else { continue }
            switch parts[0] {
            case "VmRSS:": m.residentMiB = kb / 1024
            case "VmHWM:": m.peakResidentMiB = kb / 1024
            case "RssAnon:": m.anonymousMiB = kb / 1024
            case "RssFile:": m.fileMiB = kb / 1024
            default: break
            }
        }
        return m
    }
}
