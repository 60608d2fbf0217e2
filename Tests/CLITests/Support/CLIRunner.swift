import Foundation
import XCTest

/// What one run of `clipcapctl` did.
struct CLIResult {
    let arguments: [String]
    /// Exit status, or nil when the process was killed by a signal or by our timeout.
    let exitCode: Int32?
    /// The signal that ended the process (a crash: SIGSEGV, SIGILL from a Swift trap, SIGABRT...).
    let signal: Int32?
    let timedOut: Bool
    let stdout: String
    let stderr: String

    /// Non-empty stderr lines.
    var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    /// The command line, for failure messages (copy-paste reproduces the run).
    var commandLine: String { (["clipcapctl"] + arguments).joined(separator: " ") }
}

/// Runs the `clipcapctl` binary built alongside this test bundle.
enum CLI {
    /// The binary: `$CLIPCAPCTL` if set (e.g. a release or sanitizer build), else the
    /// `clipcapctl` in the build products folder that holds the running test bundle
    /// (`.build/<config>/clipcapPackageTests.xctest` sits next to `.build/<config>/clipcapctl`).
    static let binary: String? = {
        let fm = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["CLIPCAPCTL"], !explicit.isEmpty {
            return fm.isExecutableFile(atPath: explicit) ? explicit : nil
        }
        var folders: [URL] = []
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            folders.append(bundle.bundleURL.deletingLastPathComponent())
        }
        folders.append(Bundle.main.bundleURL)
        folders.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        if let executable = Bundle.main.executableURL { folders.append(executable.deletingLastPathComponent()) }
        for folder in folders {
            // On macOS the bundle is a folder: .build/debug/clipcapPackageTests.xctest/Contents/MacOS/...
            var candidate = folder
            for _ in 0..<4 {
                let path = candidate.appendingPathComponent("clipcapctl").path
                if fm.isExecutableFile(atPath: path) { return path }
                candidate = candidate.deletingLastPathComponent()
            }
        }
        return nil
    }()

    /// The binary, or a skip with the reason when it was not built.
    static func requireBinary() throws -> String {
        guard let binary else {
            throw XCTSkip("clipcapctl was not found next to the test bundle; build it (`swift build --product clipcapctl`) or set CLIPCAPCTL")
        }
        return binary
    }

    /// Runs `clipcapctl arguments...` with `timeout` seconds to finish; stdin is /dev/null (or
    /// the file `stdin`); `environment` adds to (or, with "", removes from) the test's own.
    /// A run that outlives the timeout is killed (SIGKILL) and reported as `timedOut`.
    static func run(_ arguments: [String], timeout: TimeInterval = 120, in folder: String? = nil,
                    environment extra: [String: String] = [:], stdin: String? = nil) throws -> CLIResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try requireBinary())
        process.arguments = arguments
        if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"   // a crash shows as a signal, fast
        for (name, value) in extra { environment[name] = value.isEmpty ? nil : value }
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        if let stdin {
            guard let handle = FileHandle(forReadingAtPath: stdin) else { throw CocoaError(.fileReadNoSuchFile) }
            process.standardInput = handle
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        // Drain both pipes while the process runs, so a chatty child never blocks on a full pipe.
        let outData = PipeDrain(out.fileHandleForReading)
        let errData = PipeDrain(err.fileHandleForReading)
        var timedOut = false
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
        }
        let stdout = outData.finish(), stderr = errData.finish()
        let bySignal = process.terminationReason == .uncaughtSignal
        return CLIResult(arguments: arguments,
                         exitCode: bySignal || timedOut ? nil : process.terminationStatus,
                         signal: bySignal && !timedOut ? process.terminationStatus : nil,
                         timedOut: timedOut,
                         stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
    }
}

/// Reads a pipe to its end on a background thread.
final class PipeDrain: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func finish() -> Data {
        done.wait()
        return data
    }
}
