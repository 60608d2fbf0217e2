import Foundation
import XCTest

/// `Tests/Fixtures/bulk` (written by tools/make_bulk_fixtures.py) and scratch folders.
enum BulkFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    static func bulk(_ relative: String) -> String { root + "/bulk/" + relative }
    static func synthetic(_ name: String) -> String { root + "/images/synthetic/" + name }

    /// A fresh empty folder, removed at the test's teardown.
    static func folder(for test: XCTestCase) throws -> String {
        let path = FileManager.default.temporaryDirectory.path + "/bulktests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    static func touch(_ path: String, _ text: String = "x") throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }
}
