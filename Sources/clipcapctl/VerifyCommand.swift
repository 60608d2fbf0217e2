import ArgumentParser
import CCMFormat
import Foundation

/// `clipcapctl verify`: every checksum and structural rule of a `.ccm` file.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a .ccm file completely: structure, every tensor checksum, every compressed tensor decodes.",
        discussion: "Exits 0 when everything holds; otherwise prints one problem per line and exits 1.")

    @Argument(help: "The .ccm model file.")
    var file: String

    @Flag(name: .long, help: "One JSON object (docs/JSON.md): file, ok, tensors, bytes (the file's size), problems [{subject, message}].")
    var json = false

    func run() throws {
        var problems: [VerifyProblem] = []
        var tensorCount = 0, fileSize = 0
        do {
            let model = try ModelFile.open(path: file)
            tensorCount = model.tensors.count
            fileSize = model.fileSize
            problems = model.verify()
        } catch let error as ModelFileError {
            guard json else { throw CLIError(error.description) }   // one line on stderr, exit 1
            problems = [VerifyProblem(subject: "file", error: error)]
            // The file's true size even when it cannot be opened (a truncated download is
            // still 5 MB, not 0).
            fileSize = ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber)?.intValue ?? 0
        }
        if json {
            let list = problems.map { ["subject": $0.subject, "message": $0.error.description] }
            print(jsonLine(["file": file, "ok": problems.isEmpty, "tensors": tensorCount, "bytes": fileSize, "problems": list]))
        } else if problems.isEmpty {
            print("\(file): OK (\(tensorCount) tensors, \(fileSize) bytes; structure, checksums and compressed tensors verified)")
        } else {
            for p in problems { print(p.description) }
            printError("\(file): \(problems.count) problem\(problems.count == 1 ? "" : "s") found")
        }
        if !problems.isEmpty { throw ExitCode(1) }
    }
}
