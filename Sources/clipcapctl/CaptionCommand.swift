import ArgumentParser
import ClipCap
import Foundation

/// `clipcapctl caption`: caption images with a model, on a chosen backend.
struct CaptionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caption",
        abstract: "Caption images (files or folders of .jpg/.png) with a .ccm model.",
        discussion: "Default output: one line per image, file<TAB>caption[<TAB>caption...]. --json: one JSON object per line. Inputs may also be @list.txt (one path per line), - (one image on stdin), manifests (.txt/.tsv/.csv/.jsonl) and WebDataset tars (shards/{00000..00099}.tar); --out DIR --shards N runs one shard of a sharded, resumable job (docs/SCALE.md). " + CaptionExit.help)

    @Argument(help: "Image files, folders (recursive), @list.txt, -, manifests or tar shards.")
    var images: [String]

    @Option(name: .long, help: "The model file (.ccm).")
    var model: String

    @Option(name: .long, help: "Backend: auto (int8 for quantized files where the CPU can run it, blas otherwise), naive, blas, int8, or any registered plugin.")
    var backend: String = "auto"

    @Option(name: .long, parsing: .unconditional, help: "Threads for our kernels and OpenBLAS (default: the container's CPU quota, else all cores; more than the cores is clamped).")
    var threads: Int?

    @Option(name: .long, help: "Decoding: greedy, beam or sample.")
    var decode: String = "greedy"

    @Option(name: .long, parsing: .unconditional, help: "Beams for --decode beam (default 5).")
    var beams: Int?

    @Option(name: .customLong("top-p"), parsing: .unconditional, help: "Nucleus sampling mass, in (0, 1] (--decode sample; default 1 = off).")
    var topP: Double?

    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Keep the k most likely tokens (--decode sample; default 0 = off).")
    var topK: Int?

    @Option(name: .long, parsing: .unconditional, help: "Sampling temperature (--decode sample; default 1).")
    var temperature: Double?

    @Option(name: .long, parsing: .unconditional, help: "Candidates per image: samples (--decode sample) or best beams (--decode beam, at most --beams). Greedy gives one.")
    var num: Int?

    @Option(name: .long, help: "Random seed for --decode sample (default 0).")
    var seed: UInt64?

    @Option(name: .customLong("max-tokens"), parsing: .unconditional, help: "Most tokens per caption (clamped, with a note, to what the model's context leaves).")
    var maxTokens: Int = 30

    @Option(name: .long, parsing: .unconditional, help: "Images captioned at once, each with its own session.")
    var jobs: Int = 1

    @Option(name: .customLong("max-pixels"), parsing: .unconditional, help: "Largest image accepted, in pixels (width x height; default 100000000). Larger images are refused as possible decompression bombs.")
    var maxPixels: Int?

    @Option(name: .long, parsing: .unconditional, help: "Images decoded together through every phase (default \(LoadOptions.defaultBatchSize), measured in docs/PERFORMANCE.md; 1: one at a time). Output stays in input order.")
    var batch: Int?

    @Flag(name: .long, help: "One JSON object per line (docs/JSON.md): file, status, captions, token ids, scores, decode steps, timings, model, backend, decoding.")
    var json = false

    @Option(name: .long, help: "For every captioned image, a folder DIR/<image name> with pixel_values.npy, image_embedding.npy, prefix_embeddings.npy and logits.npy (the raw logits of candidate 0 at each step).")
    var dump: String?

    @OptionGroup var memory: WeightResidencyOption

    @OptionGroup var bulk: BulkOptions

    @OptionGroup var checksums: ChecksumOption

    @Flag(name: .long, help: "Print which backend runs each op (and fallbacks) to stderr.")
    var verbose = false

    func validate() throws {
        guard ["greedy", "beam", "sample"].contains(decode) else { throw ValidationError("--decode must be greedy, beam or sample (got '\(decode)')") }
        try ThreadCount.validate(threads)
        if let num, num < 1 { throw ValidationError("--num must be at least 1 (got \(num))") }
        if let beams, beams < 1 { throw ValidationError("--beams must be at least 1 (got \(beams))") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1 (got \(maxTokens))") }
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
        if let maxPixels, maxPixels < 1 { throw ValidationError("--max-pixels must be at least 1 (got \(maxPixels))") }
        if let temperature, !(temperature > 0 && temperature.isFinite) { throw ValidationError("--temperature must be positive (got \(temperature))") }
        if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1] (got \(topP))") }
        if let topK, topK < 0 { throw ValidationError("--top-k must be 0 (off) or more (got \(topK))") }
        // Options that the chosen decoding would ignore are contradictions, not defaults.
        if decode != "beam", beams != nil { throw ValidationError("--beams applies to --decode beam only (the decoding is \(decode))") }
        if decode != "sample" {
            for (name, given) in [("--temperature", temperature != nil), ("--top-p", topP != nil), ("--top-k", topK != nil), ("--seed", seed != nil)] where given {
                throw ValidationError("\(name) applies to --decode sample only (the decoding is \(decode))")
            }
        }
        if decode == "greedy", let num, num > 1 {
            throw ValidationError("--num \(num): greedy decoding gives one caption; use --decode beam or --decode sample for several")
        }
        if decode == "beam", let num, num > beamWidth { throw ValidationError("--num (\(num)) cannot exceed --beams (\(beamWidth))") }
        if bulk.isRequested(for: images) {
            if jobs > 1 { throw ValidationError("--jobs is not used with manifests, tars, lists, --format, -o or --out (images are batched): drop it") }
            if dump != nil { throw ValidationError("--dump is for image files and folders, not with manifests, tars, lists, --format, -o or --out") }
        }
    }

    /// `--beams`, default 5.
    var beamWidth: Int { beams ?? 5 }
    /// `--num`, default 1.
    var candidates: Int { num ?? 1 }

    func run() throws {
        if bulk.isRequested(for: images) { return try runBulk() }
        if let dump {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dump, isDirectory: &isDir), !isDir.boolValue {
                throw CLIError("\(dump): not a folder; --dump needs a folder to write the .npy files into")
            }
        }
        let files = try collectImages(images, verbose: verbose)
        guard !files.isEmpty else { throw CLIError("no .jpg/.jpeg/.png images found in \(images.joined(separator: ", "))") }
        let totalThreads = threads == nil ? defaultThreads : ThreadCount.resolve(threads)
        // Batching (one session, every phase batched) unless --jobs asks for one-image sessions.
        let batchSize = jobs == 1 ? min(batch ?? LoadOptions.defaultBatchSize, files.count) : 1
        let model = try ModelLoading.load(self.model, options: loadOptions(threads: max(1, totalThreads / jobs), batchSize: batchSize))
        if verbose { ModelLoading.reportKernels(model) }
        var decoding = decodingOptions
        decoding.maxTokens = ModelLoading.tokenLimit(maxTokens, model: model)
        decoding.captureIntermediates = dump != nil

        let settings = decoding
        let line = CaptionLine(model: self.model, backend: model.backend.name, decoding: settings)
        let dumpFolders = dump.map { DumpFolders(root: $0, files: files) }
        let progress = ProgressLine(total: files.count, label: "captioning", enabled: stderrIsTerminal && !bulk.quiet)
        let results = ResultSlots(count: files.count)
        let failures = AtomicCounter()
        let printer = OrderedPrinter(count: files.count) { index in
            self.render(file: files[index], outcome: results[index], line: line)
            // Keep nothing once printed (a long run must not grow): only failures are counted.
            if case .failure? = results[index] { failures.increment() }
            results[index] = nil
        }
        // Every result goes through here, batched or not: its tensors dumped, then printed in order.
        let deliver: @Sendable (Int, Result<CaptionResult, Error>) -> Void = { index, outcome in
            var outcome = outcome
            if let dumpFolders, case .success(var result) = outcome, let inter = result.intermediates {
                do {
                    try DumpWriter.write(inter, to: dumpFolders.folder(for: index))
                    result.intermediates = nil
                    outcome = .success(result)
                } catch {
                    outcome = .failure(error)
                }
            }
            results[index] = outcome
            progress.advance()
            printer.ready(index)
        }
        let work: @Sendable (Int) -> Void = { index in
            deliver(index, Result { try model.caption(imageAt: files[index], options: settings) })
        }
        if jobs == 1 && batchSize > 1 {
            let requests = files.map { CaptionRequest.file($0, options: settings) }
            model.captions(requests, batchSize: batchSize) { outcome in deliver(outcome.index, outcome.result) }
        } else if jobs == 1 {
            for i in 0..<files.count { work(i) }
        } else {
            let next = AtomicCounter()
            let group = DispatchGroup()
            for _ in 0..<min(jobs, files.count) {
                DispatchQueue.global().async(group: group) {
                    while true {
                        let i = next.increment()
                        if i >= files.count { return }
                        work(i)
                    }
                }
            }
            group.wait()
        }
        progress.finish()

        let failed = failures.value
        if failed > 0 {
            printError("Error: \(failed) of \(files.count) images could not be captioned (see the messages above)")
            throw ExitCode(CaptionExit.someImagesFailed)
        }
    }

    private func render(file: String, outcome: Result<CaptionResult, Error>?, line: CaptionLine) {
        guard let outcome else { return }
        switch outcome {
        case .success(let r):
            for warning in r.warnings { printError("warning: " + warning) }
            if json {
                print(jsonLine(line.ok(file: file, result: r)))
            } else {
                print(([file] + r.captions.map(\.text)).joined(separator: "\t"))
            }
        case .failure(let error):
            let message = perImageMessage(file: file, error: error)
            if json { print(jsonLine(line.error(file: file, message: message))) }
            printError("error: " + message)
        }
        fflush(nil)
    }
}

/// Results by index, filled from several threads.
final class ResultSlots: @unchecked Sendable {
    private var slots: [Result<CaptionResult, Error>?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    subscript(i: Int) -> Result<CaptionResult, Error>? {
        get { lock.lock(); defer { lock.unlock() }; return slots[i] }
        set { lock.lock(); slots[i] = newValue; lock.unlock() }
    }
}

/// Prints results in input order as soon as each one and all before it are ready.
final class OrderedPrinter: @unchecked Sendable {
    private var ready: [Bool]
    private var nextToPrint = 0
    private let lock = NSLock()
    private let emit: (Int) -> Void
    init(count: Int, emit: @escaping (Int) -> Void) {
        ready = Array(repeating: false, count: count)
        self.emit = emit
    }
    func ready(_ i: Int) {
        lock.lock(); defer { lock.unlock() }
        ready[i] = true
        while nextToPrint < ready.count && ready[nextToPrint] {
            emit(nextToPrint)
            nextToPrint += 1
        }
    }
}

/// A counter shared by worker threads.
final class AtomicCounter: @unchecked Sendable {
    private var count = 0
    private let lock = NSLock()
    /// Adds one; returns the value before.
    @discardableResult
    func increment() -> Int {
        lock.lock(); defer { lock.unlock() }
        count += 1
        return count - 1
    }
    var value: Int {
        lock.lock(); defer { lock.unlock() }
        return count
    }
}
