import Foundation
import ArgumentParser
import ClipCap
import BulkCaption

/// A one-line error for the user; `clipcapctl` prints it to stderr and exits non-zero.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Writes to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}

/// Whether stderr is a terminal (progress is drawn only then).
var stderrIsTerminal: Bool { isatty(2) != 0 }

/// A progress bar on stderr, redrawn in place at most ten times a second with the rate and
/// the time left; silent when stderr is not a terminal, so it never mixes into piped output.
/// `total` 0 means unknown (a stream of tar members): then it shows the count and the rate.
final class ProgressLine: @unchecked Sendable {
    private let total: Int
    private let label: String
    private let enabled: Bool
    private var done = 0
    private let lock = NSLock()
    private var lastDraw = Date.distantPast
    private let started = Date()

    init(total: Int, label: String, enabled: Bool = stderrIsTerminal) {
        self.total = total
        self.label = label
        self.enabled = enabled && total != 1
    }

    func advance(_ n: Int = 1) {
        lock.lock(); defer { lock.unlock() }
        done += n
        guard enabled else { return }
        let now = Date()
        if (total == 0 || done < total) && now.timeIntervalSince(lastDraw) < 0.1 { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let rateText = String(format: "%.1f images/s", rate)
        var line = "\r\(label) \(done)"
        if total > 0 {
            let width = 30
            let filled = min(width, width * done / total)
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            let left = rate > 0 ? Int((Double(total - done) / rate).rounded()) : 0
            line = "\r\(label) [\(bar)] \(done)/\(total) \(rateText) ETA \(left / 3600 > 0 ? "\(left / 3600)h" : "")\(String(format: "%02d:%02d", left / 60 % 60, left % 60))"
        } else {
            line += " \(rateText)"
        }
        FileHandle.standardError.write((line + "\u{1B}[K").data(using: .utf8)!)
        if total > 0 && done >= total { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }

    /// Runs `body` (which prints a line to stderr) with the bar cleared; the next update redraws it.
    func pause(_ body: () -> Void) {
        lock.lock(); defer { lock.unlock() }
        if enabled && done > 0 { FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!) }
        body()
    }

    func finish() {
        lock.lock(); defer { lock.unlock() }
        if enabled && (total == 0 || done < total) && done > 0 { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }
}

/// Writes `data` to `path` atomically: a temporary file in the same folder, fsync, rename.
/// An existing file under `path` is untouched if anything fails.
func writeFileAtomically(_ data: Data, to path: String) throws {
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
        throw CLIError("\(path) is a folder; give a file name to write to")
    }
    do { try writeAtomically(data, to: path) } catch { throw CLIError("\(error)") }
}

/// A float32 `.npy` file (format 1.0), as `numpy.load` reads it.
func npyData(_ values: [Float], shape: [Int]) -> Data {
    let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
    let unpadded = 10 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    var data = Data([0x93])
    data.append("NUMPY".data(using: .ascii)!)
    data.append(contentsOf: [1, 0])
    let len = UInt16(header.utf8.count)
    data.append(contentsOf: [UInt8(len & 0xff), UInt8(len >> 8)])
    data.append(header.data(using: .ascii)!)
    values.withUnsafeBytes { data.append(contentsOf: $0) }
    return data
}

/// JSON text for a value built from dictionaries, arrays, strings and numbers, keys sorted.
func jsonLine(_ object: Any) -> String {
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
          let text = String(data: data, encoding: .utf8) else { return "{}" }
    return text
}

/// Image files under the given paths: files as given, folders walked (`FolderListing`:
/// recursive, links followed, hidden and sidecar files skipped, sorted). Other files in the
/// folders are counted on stderr, and listed with `verbose`.
func collectImages(_ paths: [String], verbose: Bool = false) throws -> [String] {
    var out: [String] = []
    var unsupported: [String] = []
    let fm = FileManager.default
    for p in paths {
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: p, isDirectory: &isDir) else {
            throw CLIError("\(p): no such file or folder")
        }
        if isDir.boolValue {
            let listing: FolderListing
            do { listing = try FolderListing(folder: p) } catch { throw CLIError("\(error)") }
            out += listing.images
            unsupported += listing.unsupported
        } else {
            out.append(p)
        }
    }
    reportUnsupported(unsupported, verbose: verbose)
    return out
}

/// One stderr line counting the files of the folders that are not images; each listed with `verbose`.
func reportUnsupported(_ files: [String], verbose: Bool) {
    guard !files.isEmpty else { return }
    if verbose {
        for file in files { printError("skipped \(file): not a .jpg, .jpeg or .png file") }
    }
    printError("note: \(files.count) file(s) in the folders are not .jpg/.jpeg/.png images and were skipped\(verbose ? "" : " (--verbose lists them)")")
}

/// `--low-memory` and `--keep-weights`, shared by caption, bench and profile
/// (`LoadOptions.residency`; by default the image encoder's weights are streamed through memory for
/// each image and the mapper's and decoder's stay).
struct WeightResidencyOption: ParsableArguments {
    @Flag(name: .customLong("low-memory"), help: "Release each phase's weights when it is done, the mapper's and decoder's too (peak RSS follows the largest phase; pages are re-mapped every caption).")
    var lowMemory = false

    @Flag(name: .customLong("keep-weights"), help: "Keep every weight mapped between images (no re-mapping: fastest for many images; peak RSS is the whole model file). By default the image encoder's weights are streamed through memory for each image, 16 MiB at a time.")
    var keepWeights = false

    func validate() throws {
        if lowMemory && keepWeights { throw ValidationError("--low-memory and --keep-weights contradict each other: pass one") }
    }

    /// The residency these flags ask for.
    var residency: WeightResidency { lowMemory ? .perPhase : keepWeights ? .all : .perImage }

    /// The flags again, for a worker process.
    var arguments: [String] { lowMemory ? ["--low-memory"] : keepWeights ? ["--keep-weights"] : [] }
}
