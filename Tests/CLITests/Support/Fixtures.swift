import Foundation
import XCTest

/// Committed fixtures (found relative to this file) and scratch space for one test process.
enum Fixtures {
    /// `Tests/Fixtures`.
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static var clip: String { path("models/clip/ViT-tiny-jit.pt") }
    static var checkpoint: String { path("models/clipcap-zh-mlp.pt") }
    static var gpt2: String { path("models/gpt2-zh") }
    /// A small valid PNG and JPEG.
    static var png: String { path("images/synthetic/rgb.png") }
    static var jpeg: String { path("images/synthetic/rgb_q90_420.jpg") }

    /// Arguments of a `convert` run of the fixture checkpoints, writing to `output`.
    static func convertArguments(checkpoint: String = Fixtures.checkpoint, clip: String = Fixtures.clip,
                                 gpt2: String = Fixtures.gpt2, output: String, extra: [String] = []) -> [String] {
        ["convert", "--clip", clip, "--checkpoint", checkpoint, "--gpt2", gpt2, "-o", output] + extra
    }

    /// A folder for this test process, removed at exit by nobody (it is in the temp dir and
    /// small); each test makes its own subfolder with `folder(for:)`.
    static let scratch: String = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("clitests-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }()

    /// A fresh, empty folder for one test, removed at its teardown.
    static func folder(for test: XCTestCase, _ name: String = #function) throws -> String {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let path = scratch + "/" + safe + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// The fixture model converted by `clipcapctl convert` (once per process), raw f32 or zstd.
    static func model(compressed: Bool = false) throws -> String {
        try ModelCache.shared.model(compressed: compressed)
    }

    static func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    /// Writes without fsync (Data.write syncs; these tests write hundreds of files).
    static func write(_ bytes: [UInt8], to path: String) throws {
        guard let handle = fopen(path, "wb") else { throw CocoaError(.fileWriteUnknown) }
        defer { fclose(handle) }
        guard bytes.isEmpty || fwrite(bytes, 1, bytes.count, handle) == bytes.count else { throw CocoaError(.fileWriteUnknown) }
    }

    static func write(_ text: String, to path: String) throws { try write(Array(text.utf8), to: path) }
}

/// Converts the fixture checkpoints once per process, through the CLI itself.
final class ModelCache: @unchecked Sendable {
    static let shared = ModelCache()
    private let lock = NSLock()
    private var built: [Bool: String] = [:]

    func model(compressed: Bool) throws -> String {
        lock.lock(); defer { lock.unlock() }
        if let path = built[compressed] { return path }
        let path = Fixtures.scratch + (compressed ? "/fixture-zstd.ccm" : "/fixture.ccm")
        let extra = compressed ? ["--compress", "zstd"] : []
        let result = try CLI.run(Fixtures.convertArguments(output: path, extra: extra))
        guard result.exitCode == 0 else {
            throw FixtureError(message: "could not convert the fixture model (\(result.commandLine)): \(result.stderr)")
        }
        built[compressed] = path
        return path
    }
}

/// A fixture could not be prepared (fails the test, unlike a skip).
struct FixtureError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
