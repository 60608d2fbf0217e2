import Foundation
import XCTest

/// `caption` at scale (docs/SCALE.md), end to end through the binary: shards as separate
/// processes with each scheduler's variables, a shard killed with SIGKILL and rerun, output
/// formats, exit codes, hostile tars.
final class BulkRunTests: XCTestCase {
    /// The scheduler variables cleared, so only what a test sets is seen.
    private let noScheduler = ["JOB_COMPLETION_INDEX": "", "SLURM_ARRAY_TASK_ID": ""]

    private func caption(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil,
                         timeout: TimeInterval = 300) throws -> CLIResult {
        try CLI.run(["caption", "--threads", "1", "--model", try Fixtures.model()] + arguments, timeout: timeout,
                    environment: noScheduler.merging(environment) { $1 }, stdin: stdin)
    }

    /// A folder of `count` images (copies of the synthetic fixtures, a third in a subfolder),
    /// one broken image (failures are records too) and a macOS sidecar file (skipped).
    private func imageFolder(_ count: Int, in folder: String) throws -> String {
        let source = Fixtures.path("images/synthetic")
        let names = try FileManager.default.contentsOfDirectory(atPath: source).sorted()
        let dir = folder + "/images"
        try FileManager.default.createDirectory(atPath: dir + "/nested", withIntermediateDirectories: true)
        for i in 0..<count {
            let name = names[i % names.count]
            let target = (i % 3 == 0 ? dir + "/nested/" : dir + "/") + String(format: "%03d-", i) + name
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: target)
        }
        try Fixtures.write("sidecar", to: dir + "/._000-sidecar.jpg")
        try Fixtures.write("not an image", to: dir + "/zzz-broken.jpg")
        return dir
    }

    private func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    private func object(_ line: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
    }

    func testShardsRunAsSeparateProcessesHoldEveryInputOnceWithTheSingleRunsCaptions() throws {
        let folder = try Fixtures.folder(for: self)
        let images = try imageFolder(14, in: folder)
        let inputs = [images, Fixtures.path("bulk/webdataset/shard-{00000..00001}.tar"), Fixtures.path("bulk/manifest.tsv")]
        let single = try caption(inputs + ["--out", folder + "/single"])
        XCTAssertEqual(single.exitCode, 3, "the broken image failed, the run completed: \(single.stderr)")
        let reference = try lines(folder + "/single/00000.jsonl")
        XCTAssertEqual(reference.count, 15 + 12 + 6)

        // Kubernetes sets JOB_COMPLETION_INDEX, Slurm SLURM_ARRAY_TASK_ID, a plain loop passes --shard.
        let runs: [(arguments: [String], environment: [String: String])] = [
            (["--shards", "3"], ["JOB_COMPLETION_INDEX": "0"]),
            (["--shards", "3"], ["SLURM_ARRAY_TASK_ID": "1"]),
            (["--shards", "3", "--shard", "2"], [:]),
        ]
        let results = ResultBag(count: runs.count)
        let model = try Fixtures.model()
        let commands = runs.map { run in
            (["caption", "--threads", "1", "--model", model] + inputs + ["--out", folder + "/sharded"] + run.arguments,
             noScheduler.merging(run.environment) { $1 })
        }
        DispatchQueue.concurrentPerform(iterations: runs.count) { i in
            results[i] = Result { try CLI.run(commands[i].0, timeout: 300, environment: commands[i].1) }
        }
        var union: [String] = []
        var total = 0
        for i in 0..<runs.count {
            let result = try results[i]!.get()
            assertNoCrash(result)
            XCTAssertTrue([0, 3].contains(result.exitCode), "\(result.commandLine): \(result.stderr)")
            XCTAssertEqual(result.stdout, "", "shard runs write only into --out")
            let name = folder + "/sharded/" + String(format: "%05d", i)
            let shardLines = try lines(name + ".jsonl")
            union += shardLines
            let stats = object(try String(contentsOfFile: name + "_stats.json", encoding: .utf8))
            XCTAssertEqual(stats["inputs"] as? Int, shardLines.count)
            XCTAssertEqual(stats["shard"] as? Int, i)
            XCTAssertEqual((stats["model"] as? [String: Any])?["sha256"] as? String, (object(try String(contentsOfFile: folder + "/single/00000_stats.json", encoding: .utf8))["model"] as? [String: Any])?["sha256"] as? String)
            total += shardLines.count
        }
        XCTAssertEqual(total, reference.count)
        XCTAssertEqual(union.sorted(), reference.sorted(), "the shards together hold exactly the single run's lines")
        let files = union.map { object($0)["file"] as? String ?? "" }
        XCTAssertEqual(Set(files).count, files.count, "every input exactly once")
        XCTAssertFalse(files.contains { $0.contains("._000-sidecar") })
        assertFolder(folder + "/sharded", holds: ["00000.jsonl", "00000_stats.json", "00001.jsonl", "00001_stats.json", "00002.jsonl", "00002_stats.json"])

        // A rerun skips every completed shard; --overwrite redoes one to the same bytes.
        let again = try caption(inputs + ["--out", folder + "/sharded", "--shards", "3", "--shard", "1"])
        XCTAssertTrue([0, 3].contains(again.exitCode))
        XCTAssertTrue(again.stderr.contains("already done"), again.stderr)
        let before = try lines(folder + "/sharded/00001.jsonl")
        let redone = try caption(inputs + ["--out", folder + "/sharded", "--shards", "3", "--shard", "1", "--overwrite"])
        XCTAssertFalse(redone.stderr.contains("already done"), redone.stderr)
        XCTAssertEqual(try lines(folder + "/sharded/00001.jsonl"), before)
    }

    func testAShardKilledMidRunResumesToTheFileAnUninterruptedRunWrites() throws {
        let folder = try Fixtures.folder(for: self)
        let images = try imageFolder(40, in: folder)
        let arguments = ["caption", "--threads", "1", "--model", try Fixtures.model(), images, "--shards", "2", "--checkpoint-every", "3"]
        let uninterrupted = try CLI.run(arguments + ["--shard", "1", "--out", folder + "/whole"], timeout: 300, environment: noScheduler)
        assertNoCrash(uninterrupted)

        let out = folder + "/killed"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try CLI.requireBinary())
        process.arguments = arguments + ["--out", out]
        process.environment = ProcessInfo.processInfo.environment.merging(["SLURM_ARRAY_TASK_ID": "1", "SWIFT_BACKTRACE": "enable=no"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let checkpoint = out + "/.00001.checkpoint.json"
        let deadline = Date().addingTimeInterval(120)
        var recorded = 0
        while Date() < deadline && process.isRunning {
            if let data = FileManager.default.contents(atPath: checkpoint),
               let records = object(String(decoding: data, as: UTF8.self))["records"] as? Int, records >= 6 {
                recorded = records
                break
            }
            usleep(5_000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertGreaterThanOrEqual(recorded, 6, "the shard was killed after its second checkpoint")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/00001.jsonl"), "a killed shard publishes no output")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/00001_stats.json"))

        let resumed = try CLI.run(arguments + ["--out", out], timeout: 300, environment: ["SLURM_ARRAY_TASK_ID": "1", "JOB_COMPLETION_INDEX": ""])
        assertNoCrash(resumed)
        XCTAssertEqual(resumed.exitCode, uninterrupted.exitCode, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming after"), resumed.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/00001.jsonl")),
                       try Data(contentsOf: URL(fileURLWithPath: folder + "/whole/00001.jsonl")),
                       "the resumed shard's output is byte for byte the uninterrupted one")
        let stats = object(try String(contentsOfFile: out + "/00001_stats.json", encoding: .utf8))
        XCTAssertEqual(stats["inputs"] as? Int, 20)
        XCTAssertGreaterThanOrEqual(stats["resumed_after"] as? Int ?? 0, 6)
        assertFolder(out, holds: ["00001.jsonl", "00001_stats.json"])
    }

    func testHostileTarsGiveItemErrorsAndWriteNothingOutsideOut() throws {
        let folder = try Fixtures.folder(for: self)
        let work = folder + "/work"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let tars = ["traversal", "huge-member", "truncated", "no-image", "not-a-tar"].map { Fixtures.path("bulk/hostile/\($0).tar") }
        let result = try CLI.run(["caption", "--threads", "1", "--model", try Fixtures.model(), "--out", "out"] + tars,
                                 timeout: 300, in: work, environment: noScheduler)
        assertNoCrash(result)
        XCTAssertEqual(result.exitCode, 3, result.stderr)
        let records = try lines(work + "/out/00000.jsonl").map(object)
        let ok = records.filter { $0["status"] as? String == "ok" }.compactMap { $0["key"] as? String }
        XCTAssertEqual(ok.sorted(), ["c", "first", "good", "one"])
        let errors = records.filter { $0["status"] as? String == "error" }
        XCTAssertEqual(errors.count, records.count - 4)
        XCTAssertTrue(errors.allSatisfy { ($0["error"] as? String ?? "").contains(".tar") }, "\(errors)")
        XCTAssertEqual(listing(folder), ["work"], "nothing was extracted next to the output")
        XCTAssertEqual(listing(work), ["out"])
        assertFolder(work + "/out", holds: ["00000.jsonl", "00000_stats.json"])
    }

    func testFormatsStdinManifestsAndExitCodes() throws {
        let folder = try Fixtures.folder(for: self)
        let csv = try caption([Fixtures.path("bulk/manifest.csv"), Fixtures.jpeg, "--format", "csv", "-o", folder + "/out.csv"])
        assertSucceeded(csv)
        let csvText = try String(contentsOfFile: folder + "/out.csv", encoding: .utf8)
        XCTAssertTrue(csvText.hasPrefix("key,file,status,error,caption,score\n"), csvText)
        XCTAssertTrue(csvText.contains("\"img-2, \"\"quoted\"\"\","), "the key with a comma and quotes is quoted: \(csvText)")
        XCTAssertEqual(csvText.split(separator: "\n").count, 1 + 7)
        assertFolder(folder, holds: ["out.csv"])
        assertSucceeded(try caption([Fixtures.png, "--format", "jsonl", "-o", "/dev/null"]))
        var info = stat()
        XCTAssertTrue(stat("/dev/null", &info) == 0 && info.st_mode & S_IFMT == S_IFCHR, "-o /dev/null writes to the device, never replaces it")

        let tsv = try caption([Fixtures.path("bulk/manifest.jsonl"), "--path-column", "image", "--key-column", "id", "--format", "tsv"])
        assertSucceeded(tsv)
        let rows = tsv.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
        XCTAssertEqual(rows.count, 7)
        XCTAssertTrue(rows.dropFirst().allSatisfy { $0.count == 6 && $0[2] == "ok" }, tsv.stdout)
        XCTAssertEqual(rows.dropFirst().map { String($0[0]) }, (0..<6).map { "img-\($0)" })

        let stdin = try caption(["-", "--format", "jsonl"], stdin: Fixtures.png)
        assertSucceeded(stdin)
        XCTAssertEqual(object(stdin.stdout)["file"] as? String, "-")
        XCTAssertEqual(object(stdin.stdout)["status"] as? String, "ok")

        let list = folder + "/list.txt"
        try Fixtures.write("\(Fixtures.png)\n\(folder)/missing.png\n", to: list)
        let partial = try caption(["@" + list, "--format", "jsonl"])
        XCTAssertEqual(partial.exitCode, 3, "some images failed, the run completed: \(partial.stderr)")
        let partialLines = partial.stdout.split(separator: "\n").map { object(String($0)) }
        XCTAssertEqual(partialLines.map { $0["status"] as? String }, ["ok", "error"])
        XCTAssertTrue((partialLines[1]["error"] as? String ?? "").contains("missing.png"))

        let badModel = folder + "/bad.ccm"
        try Fixtures.write("not a model", to: badModel)
        let permanent = try CLI.run(["caption", "--model", badModel, "--format", "jsonl", Fixtures.png], environment: noScheduler)
        XCTAssertEqual(permanent.exitCode, 2, permanent.stderr)
        XCTAssertEqual(try caption([folder + "/absent.tsv", "--format", "jsonl"]).exitCode, 2)
        let noIndex = try caption([Fixtures.png, "--out", folder + "/o", "--shards", "2"])
        XCTAssertEqual(noIndex.exitCode, 2)
        XCTAssertTrue(noIndex.stderr.contains("JOB_COMPLETION_INDEX") && noIndex.stderr.contains("SLURM_ARRAY_TASK_ID"), noIndex.stderr)
        XCTAssertEqual(try caption([Fixtures.png, "--out", folder + "/o", "--shards", "2"], environment: ["SLURM_ARRAY_TASK_ID": "2"]).exitCode, 2)
        XCTAssertEqual(try caption([Fixtures.png, "--shards", "0", "--out", folder + "/o"]).exitCode, 64)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/o/00000.jsonl"))
    }
}

extension BulkRunTests {
    func testTwoProcessesNeverRunTheSameShard() throws {
        let folder = try Fixtures.folder(for: self)
        let out = folder + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let lock = open(out + "/.00000.lock", O_CREAT | O_RDWR, 0o644)
        XCTAssertEqual(flock(lock, LOCK_EX | LOCK_NB), 0)
        let busy = try CLI.run(["caption", "--threads", "1", "--model", try Fixtures.model(), Fixtures.png, "--out", out],
                               environment: ["JOB_COMPLETION_INDEX": "", "SLURM_ARRAY_TASK_ID": ""])
        XCTAssertEqual(busy.exitCode, 1, "retryable: the other process may finish or die: \(busy.stderr)")
        XCTAssertTrue(busy.stderr.contains("another process"), busy.stderr)
        XCTAssertEqual(listing(out), [".00000.lock"], "the refused run wrote nothing")
        close(lock)
        let free = try CLI.run(["caption", "--threads", "1", "--model", try Fixtures.model(), Fixtures.png, "--out", out],
                               environment: ["JOB_COMPLETION_INDEX": "", "SLURM_ARRAY_TASK_ID": ""])
        assertSucceeded(free)
        assertFolder(out, holds: ["00000.jsonl", "00000_stats.json"])
    }
}

extension BulkRunTests {
    func testACheckpointOfAnotherRunIsNeverApplied() throws {
        let folder = try Fixtures.folder(for: self)
        let out = folder + "/out"
        let arguments = ["caption", "--threads", "1", "--model", try Fixtures.model(), Fixtures.png, Fixtures.jpeg, "--out", out]
        let environment = ["JOB_COMPLETION_INDEX": "", "SLURM_ARRAY_TASK_ID": ""]
        assertSucceeded(try CLI.run(arguments, environment: environment))
        let complete = try Data(contentsOf: URL(fileURLWithPath: out + "/00000.jsonl"))
        // What a killed run of other inputs or options would have left.
        try FileManager.default.removeItem(atPath: out + "/00000_stats.json")
        try FileManager.default.moveItem(atPath: out + "/00000.jsonl", toPath: out + "/.00000.jsonl.partial")
        try Fixtures.write("{\"bytes\":10,\"fingerprint\":\"another run\",\"records\":1,\"seconds\":1}", to: out + "/.00000.checkpoint.json")
        let rerun = try CLI.run(arguments, environment: environment)
        assertSucceeded(rerun)
        XCTAssertTrue(rerun.stderr.contains("from another run"), rerun.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/00000.jsonl")), complete)
        assertFolder(out, holds: ["00000.jsonl", "00000_stats.json"])
    }
}

/// Results of concurrent runs, by index.
private final class ResultBag: @unchecked Sendable {
    private var slots: [Result<CLIResult, Error>?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    subscript(i: Int) -> Result<CLIResult, Error>? {
        get { lock.lock(); defer { lock.unlock() }; return slots[i] }
        set { lock.lock(); slots[i] = newValue; lock.unlock() }
    }
}
