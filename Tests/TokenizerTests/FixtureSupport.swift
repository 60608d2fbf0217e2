import Foundation
import XCTest

/// Locates and decodes the committed fixtures in Tests/Fixtures/tokenizers.
enum Fixtures {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tokenizers")

    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    static func decode<T: Decodable>(_ type: T.Type, from name: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(contentsOf: folder.appendingPathComponent(name)))
    }
}

/// Exact code-point comparison: Swift's `==` on strings treats canonically equivalent
/// spellings ("é" and "e\u{301}") as equal, which would hide normalisation bugs.
func XCTAssertSameScalars(_ actual: String, _ expected: String, _ message: String = "",
                          file: StaticString = #filePath, line: UInt = #line) {
    XCTAssert(actual.unicodeScalars.elementsEqual(expected.unicodeScalars),
              "\(message) got \(actual.debugDescription), expected \(expected.debugDescription)",
              file: file, line: line)
}

/// A scratch folder for malformed-file tests, removed when the test ends.
final class ScratchFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("tokenizer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes `bytes` to `name` and returns its path.
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = url.appendingPathComponent(name)
        try Data(bytes).write(to: file)
        return file.path
    }

    func write(_ name: String, _ text: String) throws -> String { try write(name, Array(text.utf8)) }
}
