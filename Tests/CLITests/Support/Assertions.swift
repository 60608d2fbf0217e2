import Foundation
import XCTest

/// Words that only appear when the process died badly instead of reporting an error.
private let crashMarkers = ["Fatal error", "Stack dump", "Illegal instruction", "Segmentation fault",
                            "AddressSanitizer", "ThreadSanitizer", "💣", "Backtrace", "Assertion failed"]

/// What is wrong with `result` as a refusal of a bad input (docs/ERRORS.md): the process
/// must end by itself (no signal, no timeout) with a non-zero status, and stderr must hold
/// exactly `lines` non-empty lines (default one), the first naming `subject` (a path) and
/// containing every word of `mentions` (case-insensitive). Empty when all holds. An empty
/// `subject` skips the naming check (for messages known not to name their file).
func refusalProblems(_ result: CLIResult, naming subject: String, mentions: [String] = [], lines: Int = 1) -> [String] {
    var problems: [String] = []
    if result.timedOut { problems.append("hung (killed after the timeout)") }
    if let signal = result.signal { problems.append("crashed with signal \(signal)") }
    if result.exitCode == 0 { problems.append("exit status 0 for a bad input") }
    for marker in crashMarkers where result.stderr.contains(marker) { problems.append("stderr contains '\(marker)'") }
    let errorLines = result.stderrLines
    if errorLines.count != lines { problems.append("\(errorLines.count) line(s) on stderr, expected \(lines)") }
    let first = errorLines.first ?? ""
    if !subject.isEmpty, !first.contains(subject) { problems.append("the message does not name '\(subject)'") }
    for word in mentions where !first.lowercased().contains(word.lowercased()) {
        problems.append("the message does not say '\(word)'")
    }
    return problems.map { $0 + "\n  run: \(result.commandLine)\n  stderr: \(result.stderr)" }
}

/// XCTest form of `refusalProblems`: one failure per problem. Returns the first stderr line.
@discardableResult
func assertRefused(_ result: CLIResult, naming subject: String, mentions: [String] = [], lines: Int = 1,
                   file: StaticString = #filePath, line: UInt = #line) -> String {
    for problem in refusalProblems(result, naming: subject, mentions: mentions, lines: lines) {
        XCTFail(problem, file: file, line: line)
    }
    return result.stderrLines.first ?? ""
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
