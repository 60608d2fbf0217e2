import Foundation
import XCTest

/// The `clipcapctl` binary built next to this test bundle (`$CLIPCAPCTL` overrides).
enum CLIBinary {
    static let path: String? = {
        let fm = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["CLIPCAPCTL"], fm.isExecutableFile(atPath: explicit) { return explicit }
        var folders = Bundle.allBundles.filter { $0.bundlePath.hasSuffix(".xctest") }.map { $0.bundleURL.deletingLastPathComponent() }
        folders.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for var folder in folders {
            for _ in 0..<4 {
                let candidate = folder.appendingPathComponent("clipcapctl").path
                if fm.isExecutableFile(atPath: candidate) { return candidate }
                folder = folder.deletingLastPathComponent()
            }
        }
        return nil
    }()

    static func require() throws -> String {
        guard let path else { throw XCTSkip("clipcapctl was not found next to the test bundle; build it or set CLIPCAPCTL") }
        return path
    }

    /// `clipcapctl caption --json` on `images`: each image's JSON object, in order.
    static func captions(_ images: [String], options: [String]) throws -> [[String: Any]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try require())
        process.arguments = ["caption", "--model", ServerFixtures.modelPath, "--json"] + options + images
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw HTTPClientError("clipcapctl caption failed with status \(process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }
}
