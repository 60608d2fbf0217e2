import BulkCaption
import Foundation

/// Successes and failures of a run so far (failures listed in the stats file, up to a cap).
struct RecordCounts {
    var ok = 0
    var failed = 0
    var failures: [(key: String, file: String, error: String)] = []
    var total: Int { ok + failed }
    /// Failures listed in the stats file at most (all are counted, and all are in the output).
    static let listedFailures = 1000

    mutating func add(key: String, file: String, error: String?) {
        guard let error else { ok += 1; return }
        failed += 1
        if failures.count < Self.listedFailures { failures.append((key, file, error)) }
    }
}

/// Where a bulk run's records go.
protocol RecordSink: AnyObject, Sendable {
    var counts: RecordCounts { get }
    /// Seconds of work over every process (a resumed shard), or nil for this process only.
    var seconds: Double? { get }
    /// Items done by an earlier process (a resumed shard).
    var resumedFrom: Int? { get }
    func write(_ record: BulkRecord) throws
    func finish(stats: [String: Any]) throws
}

/// A shard's records into its `ShardJournal` (checkpointed; resumed where a killed run stopped).
final class ShardSink: RecordSink, @unchecked Sendable {
    private let journal: ShardJournal
    private(set) var counts = RecordCounts()
    let resumedFrom: Int?

    init(journal: ShardJournal, overwrite: Bool) throws {
        self.journal = journal
        let resume = try journal.begin(overwrite: overwrite)
        for line in resume.lines {
            let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
            counts.add(key: object["key"] as? String ?? "", file: object["file"] as? String ?? "",
                       error: object["status"] as? String == "ok" ? nil : (object["error"] as? String ?? "unknown error"))
        }
        resumedFrom = resume.records
        if journal.discardedCheckpoint {
            printError("shard \(journal.shard): the checkpoint in \(journal.folder) is from another run (model, options or inputs differ); starting the shard over")
        }
        if resume.records > 0 {
            printError("shard \(journal.shard): resuming after \(resume.records) image(s) from the checkpoint in \(journal.folder)")
        }
    }

    var seconds: Double? { journal.seconds }

    func write(_ record: BulkRecord) throws {
        counts.add(key: record.key, file: record.file, error: record.error)
        try journal.append(RecordFormat.jsonl.line(record, candidates: 0))
    }

    func finish(stats: [String: Any]) throws {
        var stats = stats
        stats["output"] = (journal.finalPath as NSString).lastPathComponent
        try journal.finish(stats: stats)
    }
}

/// Records in one format to stdout, or to `-o FILE` through a temporary file renamed at the end.
final class StreamSink: RecordSink, @unchecked Sendable {
    private let format: RecordFormat
    private let candidates: Int
    private let path: String?
    private let temporary: String?
    private let handle: FileHandle
    private(set) var counts = RecordCounts()
    var seconds: Double? { nil }
    var resumedFrom: Int? { nil }

    init(format: RecordFormat, path: String?, candidates: Int) throws {
        self.format = format
        self.candidates = candidates
        var info = stat()
        let existing = path.map { stat($0, &info) == 0 } ?? false
        if let path, existing, info.st_mode & S_IFMT == S_IFDIR {
            throw CLIError("\(path) is a folder; give -o a file name to write to")
        }
        if let path, existing, info.st_mode & S_IFMT != S_IFREG {
            // A device or pipe (/dev/null, /dev/stdout, a FIFO): written in place, never replaced.
            guard let handle = FileHandle(forWritingAtPath: path) else {
                throw CLIError("\(path): cannot open for writing (\(String(cString: strerror(errno))))")
            }
            self.path = nil
            temporary = nil
            self.handle = handle
        } else if let path {
            let url = URL(fileURLWithPath: path)
            let tmp = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".partial-\(getpid())"
            guard FileManager.default.createFile(atPath: tmp, contents: nil), let handle = FileHandle(forWritingAtPath: tmp) else {
                throw CLIError("\(path): cannot write in \(url.deletingLastPathComponent().path) (\(String(cString: strerror(errno)))); check that the folder exists and is writable")
            }
            self.path = path
            temporary = tmp
            self.handle = handle
        } else {
            self.path = nil
            temporary = nil
            handle = FileHandle.standardOutput
        }
        if let header = format.header(candidates: candidates) { try emit(header) }
    }

    deinit { if let temporary { unlink(temporary) } }

    func write(_ record: BulkRecord) throws {
        counts.add(key: record.key, file: record.file, error: record.error)
        // The plain text format has no error lines: failures are on stderr only, as before.
        if format == .text && !record.isOK { return }
        try emit(format.line(record, candidates: candidates))
    }

    private func emit(_ line: String) throws {
        do { try handle.write(contentsOf: Data((line + "\n").utf8)) } catch {
            throw CLIError("\(path ?? "stdout"): cannot write the output (\(error.localizedDescription))")
        }
    }

    func finish(stats: [String: Any]) throws {
        guard let path, let temporary else { return }
        do {
            try handle.synchronize()
            try handle.close()
        } catch { throw CLIError("\(path): cannot write the output (\(error.localizedDescription))") }
        guard rename(temporary, path) == 0 else { throw CLIError("cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))") }
    }
}
