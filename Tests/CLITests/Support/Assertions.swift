import Foundation
import XCTest

/// Words that only appear when the process died badly instead of reporting an error.
private let crashMarkers = ["Fatal error", "Stack dump", "Illegal instruction", "Segmentation fault",
                            "AddressSanitizer", "ThreadSanitizer", "💣", "Backtrace", "Assertion failed"]

/// Checks the contract for a refused input (docs/ERRORS.md): the process ended by itself
/// (no signal, no timeout) with a non-zero status, and stderr holds exactly `lines` non-empty
/// lines (default one), the first naming `subject` (a path or its last component) and
/// containing every word of `mentions` (case-insensitive). Returns the first line.
@discardableResult
func assertRefused(_ result: CLIResult, naming subject: String, mentions: [String] = [], lines: Int = 1,
                   file: StaticString = #filePath, line: UInt = #line) -> String {
    let context = "\n  run: \(result.commandLine)\n  stderr: \(result.stderr)"
    XCTAssertFalse(result.timedOut, "hung (killed after the timeout)" + context, file: file, line: line)
    XCTAssertNil(result.signal, "crashed with signal \(result.signal ?? 0)" + context, file: file, line: line)
    if let code = result.exitCode { XCTAssertNotEqual(code, 0, "exit status 0 for a bad input" + context, file: file, line: line) }
    for marker in crashMarkers where result.stderr.contains(marker) {
        XCTFail("stderr contains '\(marker)'" + context, file: file, line: line)
    }
    let errorLines = result.stderrLines
    XCTAssertEqual(errorLines.count, lines, "expected \(lines) line(s) on stderr" + context, file: file, line: line)
    let first = errorLines.first ?? ""
    XCTAssertTrue(first.contains(subject), "the message does not name '\(subject)'" + context, file: file, line: line)
    for word in mentions {
        XCTAssertTrue(first.lowercased().contains(word.lowercased()), "the message does not say '\(word)'" + context,
                      file: file, line: line)
    }
    return first
}

/// Checks that a run succeeded: status 0, no signal, no timeout.
func assertSucceeded(_ result: CLIResult, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(result.exitCode, 0, "\n  run: \(result.commandLine)\n  stderr: \(result.stderr)", file: file, line: line)
}

/// Checks that a run ended by itself (exit status, any value), neither crashing nor hanging.
func assertNoCrash(_ result: CLIResult, file: StaticString = #filePath, line: UInt = #line) {
    let context = "\n  run: \(result.commandLine)\n  stderr: \(result.stderr)"
    XCTAssertFalse(result.timedOut, "hung" + context, file: file, line: line)
    XCTAssertNil(result.signal, "crashed with signal \(result.signal ?? 0)" + context, file: file, line: line)
    for marker in crashMarkers where result.stderr.contains(marker) {
        XCTFail("stderr contains '\(marker)'" + context, file: file, line: line)
    }
}

/// The names in `folder`, sorted (to check that a failed run left nothing behind).
func listing(_ folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
}

/// Checks that `folder` holds exactly `expected` (no temporary or half-written files left).
func assertFolder(_ folder: String, holds expected: [String], _ context: String = "",
                  file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(listing(folder), expected.sorted(), "files left behind in \(folder) \(context)", file: file, line: line)
}
