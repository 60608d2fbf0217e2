import ArgumentParser
import BulkCaption
import Foundation

/// `caption`'s options for bulk runs: output formats and files, shards, resume (docs/SCALE.md).
struct BulkOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Output format: jsonl, csv, tsv or text (default: text, the file<TAB>caption lines; with --out: jsonl).",
        discussion: "jsonl: one JSON object per line with key, file, status (\"ok\" or \"error\"), error, captions, token_ids, scores. csv (RFC 4180): a field holding a comma, a double quote or a line break is quoted, quotes doubled. tsv: backslash, tab, newline and carriage return in a field are written \\\\, \\t, \\n, \\r. csv/tsv columns: key, file, status, error, caption, score (then caption_2, score_2... with --num)."))
    var format: RecordFormat?

    @Option(name: .customShort("o"), help: ArgumentHelp("Write the records to this file (temporary file, then renamed when complete) instead of stdout.", valueName: "file"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp("Write shard outputs into this folder: IIIII.jsonl, then IIIII_stats.json last; a shard whose stats file exists is skipped.", valueName: "dir"))
    var out: String?

    @Option(name: .long, help: "Split the inputs into this many shards (deterministic: the same inputs and count give the same split everywhere).")
    var shards: Int = 1

    @Option(name: .long, help: "The shard to run, 0..<shards (default: $JOB_COMPLETION_INDEX, then $SLURM_ARRAY_TASK_ID).")
    var shard: Int?

    @Flag(name: .long, help: "Redo a shard even if its stats file exists (and ignore its checkpoint).")
    var overwrite = false

    @Option(name: .customLong("checkpoint-every"), help: "With --out: make the shard's progress durable every N images (a killed shard resumes there).")
    var checkpointEvery: Int = 256

    @Option(name: .customLong("path-column"), help: "The manifest column (.tsv/.csv header, .jsonl name) holding image paths (default: path, file, filepath, image...).")
    var pathColumn: String?

    @Option(name: .customLong("key-column"), help: "The manifest column holding each image's key (default: key if present, else the path).")
    var keyColumn: String?

    @Option(name: .customLong("max-member-bytes"), help: "Largest tar member or standard-input image read, in bytes.")
    var maxMemberBytes: Int = BulkInputs.defaultMaxMemberBytes

    @Flag(name: .long, help: "No progress bar, and no per-image error lines on stderr when the output has them (jsonl, csv, tsv, --out).")
    var quiet = false

    func validate() throws {
        guard shards >= 1 else { throw ValidationError("--shards must be at least 1") }
        if let shard, shard < 0 || shard >= shards { throw ValidationError("--shard \(shard) is outside 0..<\(shards) (--shards \(shards))") }
        guard checkpointEvery >= 1 else { throw ValidationError("--checkpoint-every must be at least 1") }
        guard maxMemberBytes >= 1 else { throw ValidationError("--max-member-bytes must be at least 1") }
        if out != nil && output != nil { throw ValidationError("--out (a folder of shard files) and -o (one file) contradict each other: pass one") }
        if out != nil, let format, format != .jsonl { throw ValidationError("--out writes JSON lines; --format \(format.rawValue) is for -o FILE or stdout") }
    }

    /// Whether these options or the inputs ask for the bulk path (anything beyond image files and folders).
    func isRequested(for inputs: [String]) -> Bool {
        if format != nil || output != nil || out != nil || shards > 1 || shard != nil || pathColumn != nil || keyColumn != nil { return true }
        return inputs.contains { input in
            input == "-" || input.hasPrefix("@") || BulkInputs.isTar(input) || (input.contains("{") && !FileManager.default.fileExists(atPath: input))
                || ["txt", "tsv", "csv", "jsonl"].contains((input as NSString).pathExtension.lowercased())
        }
    }

    /// The shard this process runs: `--shard`, else the scheduler's index variable.
    func selection(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ShardSelection {
        if let shard { return ShardSelection(count: shards, index: shard) }
        guard shards > 1 else { return .all }
        for name in ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"] {
            guard let text = environment[name] else { continue }
            guard let index = Int(text.trimmingCharacters(in: .whitespaces)), index >= 0, index < shards else {
                throw CLIError("$\(name)=\(text) is not a shard index in 0..<\(shards) (--shards \(shards)); for Slurm, number the array from 0 (--array=0-\(shards - 1))")
            }
            return ShardSelection(count: shards, index: index)
        }
        throw CLIError("--shards \(shards) needs the shard to run: pass --shard I, or run under a Kubernetes Indexed Job ($JOB_COMPLETION_INDEX) or a Slurm array ($SLURM_ARRAY_TASK_ID)")
    }
}

extension RecordFormat: ExpressibleByArgument {}

/// Exit statuses of `caption` (documented in `--help` and docs/SCALE.md; the Kubernetes
/// Job's `podFailurePolicy` keys on them).
enum CaptionExit {
    /// Every input was captioned.
    static let success: Int32 = 0
    /// Something failed that a retry may fix (an output that could not be written...).
    static let retryable: Int32 = 1
    /// Permanent: a bad model file, bad inputs (missing manifest or folder, a manifest without
    /// its path column), a bad shard index. Retrying cannot help.
    static let permanent: Int32 = 2
    /// The run (shard) completed, but some images failed: each has its error line in the output.
    static let someImagesFailed: Int32 = 3
    /// Bad command-line usage (the argument parser's EX_USAGE): permanent too.
    static let usage: Int32 = 64

    static let help = "Exit status: 0 all captioned; 3 completed, but some images failed (each has its error in the output); 2 permanent failure (bad model, bad inputs, bad shard index: do not retry); 64 bad arguments; 1 other errors (e.g. the output could not be written: a retry may work)."
}
