import Foundation
import ArgumentParser
import ClipCap

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

/// A progress line on stderr, redrawn in place; silent when stderr is not a terminal.
final class ProgressLine: @unchecked Sendable {
    private let total: Int
    private let label: String
    private let enabled: Bool
    private var done = 0
    private let lock = NSLock()
    private var lastDraw = Date.distantPast

    init(total: Int, label: String, enabled: Bool = stderrIsTerminal) {
        self.total = total
        self.label = label
        self.enabled = enabled && total > 1
    }

    func advance(_ n: Int = 1) {
        lock.lock(); defer { lock.unlock() }
        done += n
        guard enabled else { return }
        let now = Date()
        if done < total && now.timeIntervalSince(lastDraw) < 0.1 { return }
        lastDraw = now
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write("\r\(label) [\(bar)] \(done)/\(total)".data(using: .utf8)!)
        if done >= total { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }

    func finish() {
        lock.lock(); defer { lock.unlock() }
        if enabled && done < total { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }
}

/// Writes `data` to `path` atomically: a temporary file in the same folder, fsync, rename.
/// An existing file under `path` is untouched if anything fails.
func writeFileAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent().path
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
        throw CLIError("\(path) is a folder; give a file name to write to")
    }
    let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    guard FileManager.default.createFile(atPath: tmp, contents: nil) else {
        throw CLIError("cannot write in \(dir): check that the folder exists and is writable")
    }
    do {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: tmp))
        try handle.write(contentsOf: data)
        try handle.synchronize()
        try handle.close()
        guard rename(tmp, path) == 0 else { throw CLIError("cannot rename \(tmp) to \(path): \(String(cString: strerror(errno)))") }
    } catch {
        unlink(tmp)
        throw error
    }
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

/// JSON text for a value built from dictionaries, arrays, strings and numbers: compact (one
/// line), keys sorted, slashes unescaped; NaN and infinities become `null` (JSON has no word for
/// them, and one such number must not turn a whole line into `{}`). The one JSON style of every
/// command (docs/JSON.md).
func jsonLine(_ object: Any) -> String {
    guard let data = try? JSONSerialization.data(withJSONObject: jsonSafe(object), options: [.sortedKeys, .withoutEscapingSlashes]),
          let text = String(data: data, encoding: .utf8) else { return "{}" }
    return text
}

/// An `Encodable` value in the same style as `jsonLine`: snake_case keys, compact, sorted,
/// slashes unescaped.
func jsonLine<T: Encodable>(encoding value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// `object` with every non-finite floating-point number replaced by `NSNull`.
private func jsonSafe(_ object: Any) -> Any {
    switch object {
    case let d as Double: return d.isFinite ? d : NSNull()
    case let f as Float: return f.isFinite ? Double(f) : NSNull()
    case let dict as [String: Any]: return dict.mapValues(jsonSafe)
    case let array as [Any]: return array.map(jsonSafe)
    default: return object
    }
}

/// Image files under the given paths: files as given, folders walked (sorted, .jpg/.jpeg/.png).
/// A path that does not exist is kept as given: captioning it is that image's error ("no such
/// file"), like a bad image, and never stops the others.
func collectImages(_ paths: [String]) throws -> [String] {
    var out: [String] = []
    let fm = FileManager.default
    for p in paths {
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: p, isDirectory: &isDir), isDir.boolValue {
            guard let walker = fm.enumerator(atPath: p) else { throw CLIError("\(p): cannot read the folder; check its permissions") }
            var found: [String] = []
            while let rel = walker.nextObject() as? String {
                let ext = (rel as NSString).pathExtension.lowercased()
                if ["jpg", "jpeg", "png"].contains(ext) { found.append((p as NSString).appendingPathComponent(rel)) }
            }
            out.append(contentsOf: found.sorted())
        } else {
            out.append(p)
        }
    }
    return out
}

/// The given paths that do not exist, for commands that check their inputs before any work.
func missingPaths(_ paths: [String]) -> [String] {
    paths.filter { !FileManager.default.fileExists(atPath: $0) }
}

/// A failed image's message naming the file once (most errors already start with the path).
func perImageMessage(file: String, error: any Error) -> String {
    let text = "\(error)"
    return text.hasPrefix(file) ? text : "\(file): \(text)"
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
