import Foundation

/// The files of shard `I` in `--out DIR` and the protocol that makes a shard idempotent and
/// restartable:
///
/// - `DIR/IIIII.jsonl` — the final output, only ever created by renaming the complete
///   `DIR/.IIIII.jsonl.partial`;
/// - `DIR/IIIII_stats.json` — written last (temporary file + rename): a shard whose stats file
///   exists is done and is skipped;
/// - `DIR/.IIIII.checkpoint.json` — every `checkpointEvery` records the partial file is
///   fsynced and this records how many items and bytes of it are final, with a fingerprint of
///   the run (model, options, inputs). A rerun with the same fingerprint truncates the partial
///   file to that length and resumes after those items; the records are the same bytes an
///   uninterrupted run writes, so the final file is identical. A different fingerprint starts over.
public final class ShardJournal {
    public let folder: String
    public let shard: Int
    private let fingerprint: String
    private let checkpointEvery: Int
    private var handle: FileHandle?
    private var buffered = Data()
    private var bufferedRecords = 0
    /// Bytes and records of the partial file that are on disk (after the last checkpoint).
    private var committedBytes = 0
    private(set) public var recordsDone = 0
    /// Seconds of work before this process (from the checkpoint), for images/s over the whole shard.
    public private(set) var priorSeconds = 0.0
    private let started = Date()

    public var finalPath: String { folder + "/" + Self.name(shard) + ".jsonl" }
    public var statsPath: String { folder + "/" + Self.name(shard) + "_stats.json" }
    var partialPath: String { folder + "/." + Self.name(shard) + ".jsonl.partial" }
    var checkpointPath: String { folder + "/." + Self.name(shard) + ".checkpoint.json" }
    var lockPath: String { folder + "/." + Self.name(shard) + ".lock" }
    private var lockHandle: FileHandle?
    /// Whether `begin` found a checkpoint of another run (other model, options or inputs) and started over.
    public private(set) var discardedCheckpoint = false

    /// `00003` for shard 3.
    public static func name(_ shard: Int) -> String {
        let digits = String(shard)
        return digits.count < 5 ? String(repeating: "0", count: 5 - digits.count) + digits : digits
    }

    public init(folder: String, shard: Int, fingerprint: String, checkpointEvery: Int) {
        self.folder = folder
        self.shard = shard
        self.fingerprint = fingerprint
        self.checkpointEvery = max(1, checkpointEvery)
    }

    /// Takes the shard's lock (`.IIIII.lock`, flock), so two processes never write one shard
    /// (a retried pod while the old one still runs): the second is refused. Held until exit.
    public func lock() throws {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw BulkInputError("\(folder): cannot create the output folder (\(error.localizedDescription)); check the path and its permissions")
        }
        if !fm.fileExists(atPath: lockPath) { _ = fm.createFile(atPath: lockPath, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: lockPath) else {
            throw BulkInputError("\(lockPath): cannot open the shard's lock file (\(String(cString: strerror(errno)))); check that \(folder) is writable")
        }
        guard flock(handle.fileDescriptor, LOCK_EX | LOCK_NB) == 0 else {
            throw ShardBusy(description: "shard \(shard): another process is running it (\(lockPath) is locked); wait for it, or stop it first")
        }
        lockHandle = handle
    }

    /// Another process holds the shard's lock.
    public struct ShardBusy: Error, CustomStringConvertible { public let description: String }

    /// Whether the shard is already complete (its stats file exists).
    public var isComplete: Bool { FileManager.default.fileExists(atPath: statsPath) }

    /// What a resumed shard already holds.
    public struct Resume {
        /// Items already recorded (skip this many of the shard's items).
        public var records = 0
        /// Their lines, to recount successes and failures.
        public var lines: [String] = []
    }

    /// Prepares the partial file: resumes from a matching checkpoint, or starts empty (always
    /// with `overwrite`). Removes an old final output and stats file when starting over.
    public func begin(overwrite: Bool) throws -> Resume {
        let fm = FileManager.default
        if lockHandle == nil { try lock() }
        var resume = Resume()
        if !overwrite, let checkpoint = readCheckpoint(), checkpoint.fingerprint == fingerprint,
           let data = fm.contents(atPath: partialPath), data.count >= checkpoint.bytes {
            let kept = data.prefix(checkpoint.bytes)
            resume.lines = String(decoding: kept, as: UTF8.self).split(separator: "\n").map(String.init)
            resume.records = resume.lines.count
            committedBytes = checkpoint.bytes
            priorSeconds = checkpoint.seconds
            recordsDone = resume.records
        } else {
            discardedCheckpoint = !overwrite && fm.fileExists(atPath: checkpointPath)
            for path in [partialPath, checkpointPath, statsPath, finalPath] { try? fm.removeItem(atPath: path) }
        }
        if !fm.fileExists(atPath: partialPath) { _ = fm.createFile(atPath: partialPath, contents: nil) }
        guard let handle = FileHandle(forUpdatingAtPath: partialPath) else {
            throw BulkInputError("\(partialPath): cannot write the shard's output (\(String(cString: strerror(errno)))); check that \(folder) is writable")
        }
        try handle.truncate(atOffset: UInt64(committedBytes))
        try handle.seek(toOffset: UInt64(committedBytes))
        self.handle = handle
        return resume
    }

    /// Adds one line (buffered; on disk at the next checkpoint).
    public func append(_ line: String) throws {
        buffered.append(contentsOf: Array(line.utf8))
        buffered.append(0x0A)
        bufferedRecords += 1
        if bufferedRecords >= checkpointEvery { try checkpoint() }
    }

    /// Writes the buffered lines, fsyncs them, then records the checkpoint.
    public func checkpoint() throws {
        guard let handle else { return }
        do {
            try handle.write(contentsOf: buffered)
            try handle.synchronize()
        } catch {
            throw BulkInputError("\(partialPath): cannot write the shard's output (\(error.localizedDescription)); check the free space in \(folder)")
        }
        committedBytes += buffered.count
        recordsDone += bufferedRecords
        buffered.removeAll(keepingCapacity: true)
        bufferedRecords = 0
        let object: [String: Any] = ["fingerprint": fingerprint, "bytes": committedBytes, "records": recordsDone, "seconds": seconds]
        try writeAtomically(Data(RecordFormat.json(object).utf8), to: checkpointPath)
    }

    /// Seconds of work on this shard, over every process that worked on it.
    public var seconds: Double { priorSeconds + Date().timeIntervalSince(started) }

    /// Publishes the output: the last lines, the rename to the final name, then the stats file.
    public func finish(stats: [String: Any]) throws {
        try checkpoint()
        try handle?.close()
        handle = nil
        guard rename(partialPath, finalPath) == 0 else {
            throw BulkInputError("cannot rename \(partialPath) to \(finalPath): \(String(cString: strerror(errno)))")
        }
        try writeAtomically(Data((RecordFormat.json(stats) + "\n").utf8), to: statsPath)
        try? FileManager.default.removeItem(atPath: checkpointPath)
        unlock()
    }

    /// Releases the lock and removes its file (a process that finds no file makes a new one).
    public func unlock() {
        guard let handle = lockHandle else { return }
        unlink(lockPath)
        try? handle.close()
        lockHandle = nil
    }

    private struct Checkpoint {
        var fingerprint: String
        var bytes: Int
        var seconds: Double
    }

    private func readCheckpoint() -> Checkpoint? {
        guard let data = FileManager.default.contents(atPath: checkpointPath),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let fingerprint = object["fingerprint"] as? String, let bytes = object["bytes"] as? Int, bytes >= 0 else { return nil }
        return Checkpoint(fingerprint: fingerprint, bytes: bytes, seconds: object["seconds"] as? Double ?? 0)
    }
}

/// Writes `data` to `path` through a temporary file in the same folder, fsync and rename, so
/// `path` is either the old file or the whole new one.
public func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let tmp = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: tmp, contents: nil), let handle = FileHandle(forWritingAtPath: tmp) else {
        throw BulkInputError("\(tmp): cannot write (\(String(cString: strerror(errno)))); check that the folder exists and is writable")
    }
    do {
        try handle.write(contentsOf: data)
        try handle.synchronize()
        try handle.close()
    } catch {
        unlink(tmp)
        throw BulkInputError("\(tmp): cannot write (\(error.localizedDescription)); check the free space")
    }
    guard rename(tmp, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(tmp)
        throw BulkInputError("cannot rename \(tmp) to \(path): \(reason)")
    }
}
