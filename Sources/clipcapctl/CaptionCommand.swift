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

    @Option(name: .long, help: "Backend: naive, blas, int8, or any registered plugin.")
    var backend: String = "blas"

    @Option(name: .long, help: "Threads for our kernels and OpenBLAS (default: the container's CPU quota, else all cores).")
    var threads: Int?

    @Option(name: .long, help: "Decoding: greedy, beam or sample.")
    var decode: String = "greedy"

    @Option(name: .long, help: "Beams for --decode beam.")
    var beams: Int = 5

    @Option(name: .customLong("top-p"), help: "Nucleus sampling mass (sample).")
    var topP: Double = 1.0

    @Option(name: .customLong("top-k"), help: "Keep the k most likely tokens (sample; 0 = off).")
    var topK: Int = 0

    @Option(name: .long, help: "Sampling temperature.")
    var temperature: Double = 1.0

    @Option(name: .long, help: "Candidates per image (samples, or best beams).")
    var num: Int = 1

    @Option(name: .long, help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Option(name: .customLong("max-tokens"), help: "Most tokens per caption.")
    var maxTokens: Int = 30

    @Option(name: .long, help: "Images captioned at once, each with its own session (one-image path; --batch is usually faster).")
    var jobs: Int = 1

    @Option(name: .long, help: "Images decoded together through every phase (default \(LoadOptions.defaultBatchSize), measured in docs/PERFORMANCE.md; 1: one at a time). Output stays in input order.")
    var batch: Int?

    @Flag(name: .long, help: "One JSON object per line: file, captions, token ids, scores, timings.")
    var json = false

    @Option(name: .long, help: "Write pixel_values.npy, image_embedding.npy, prefix_embeddings.npy and (greedy) logits.npy for the first image into this folder.")
    var dump: String?

    @OptionGroup var memory: WeightResidencyOption

    @OptionGroup var bulk: BulkOptions

    @Flag(name: .long, help: "Verify every tensor checksum on first use.")
    var verifyChecksums = false

    @Flag(name: .long, help: "Print which backend runs each op (and fallbacks) to stderr.")
    var verbose = false

    func validate() throws {
        guard ["greedy", "beam", "sample"].contains(decode) else { throw ValidationError("--decode must be greedy, beam or sample") }
        guard num >= 1, beams >= 1, maxTokens >= 1, jobs >= 1, (batch ?? 1) >= 1 else { throw ValidationError("--num, --beams, --max-tokens, --jobs and --batch must be at least 1") }
        guard temperature > 0 else { throw ValidationError("--temperature must be positive") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        if decode == "beam" && num > beams { throw ValidationError("--num (\(num)) cannot exceed --beams (\(beams))") }
        if bulk.isRequested(for: images) {
            if jobs > 1 { throw ValidationError("--jobs is not used with manifests, tars, lists, --format, -o or --out (images are batched): drop it") }
            if dump != nil { throw ValidationError("--dump is for image files and folders, not with manifests, tars, lists, --format, -o or --out") }
        }
    }

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
        let totalThreads = threads ?? defaultThreads
        // Batching (one session, every phase batched) unless --jobs asks for one-image sessions.
        let batchSize = jobs == 1 ? min(batch ?? LoadOptions.defaultBatchSize, files.count) : 1
        let model = try ClipCap.loadModel(path: model, options: loadOptions(threads: max(1, totalThreads / jobs), batchSize: batchSize))
        if verbose { reportKernels(model) }
        let decoding = decodingOptions

        let progress = ProgressLine(total: files.count, label: "captioning", enabled: stderrIsTerminal && !bulk.quiet)
        let results = ResultSlots(count: files.count)
        let failures = AtomicCounter()
        let keepFirst = dump != nil
        let printer = OrderedPrinter(count: files.count) { index in
            self.render(file: files[index], outcome: results[index])
            // Keep nothing once printed (a long run must not grow): only failures are counted,
            // and the first image's result is kept for --dump.
            if case .failure? = results[index] { failures.increment() }
            if !(index == 0 && keepFirst) { results[index] = nil }
        }
        let dumpFirst = dump
        let baseOptions = decoding
        let work: @Sendable (Int) -> Void = { index in
            var opts = baseOptions
            opts.captureIntermediates = (index == 0 && dumpFirst != nil)
            let outcome: Result<CaptionResult, Error>
            do { outcome = .success(try model.caption(imageAt: files[index], options: opts)) } catch { outcome = .failure(error) }
            results[index] = outcome
            progress.advance()
            printer.ready(index)
        }
        if jobs == 1 && batchSize > 1 {
            let requests = files.enumerated().map { index, file in
                var opts = baseOptions
                opts.captureIntermediates = (index == 0 && dumpFirst != nil)
                return CaptionRequest.file(file, options: opts)
            }
            model.captions(requests, batchSize: batchSize) { outcome in
                results[outcome.index] = outcome.result
                progress.advance()
                printer.ready(outcome.index)
            }
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

        if let dump, case .success(let first)? = results[0], let inter = first.intermediates {
            try writeDump(inter, to: dump)
        }
        let failed = failures.value
        if failed > 0 {
            printError("Error: \(failed) of \(files.count) images could not be captioned (see the messages above)")
            throw ExitCode(CaptionExit.someImagesFailed)
        }
    }

    private func render(file: String, outcome: Result<CaptionResult, Error>?) {
        guard let outcome else { return }
        switch outcome {
        case .success(let r):
            if json {
                let t = r.timings
                let object: [String: Any] = [
                    "file": file,
                    "captions": r.captions.map(\.text),
                    "token_ids": r.captions.map(\.tokenIDs),
                    "scores": r.captions.map(\.score),
                    "timings_ms": ["decode_image": t.decodeImage, "preprocess": t.preprocess, "image_encoder": t.imageEncoder,
                                   "mapper": t.mapper, "prefill": t.prefill, "decode": t.decode,
                                   "decode_steps": t.decodeSteps, "ms_per_token": t.msPerToken, "total": t.total],
                    "backend": backend,
                ]
                print(jsonLine(object))
            } else {
                print(([file] + r.captions.map(\.text)).joined(separator: "\t"))
            }
        case .failure(let error):
            // Most errors already start with the path; name the file once either way.
            let message = "\(error)".hasPrefix(file) ? "\(error)" : "\(file): \(error)"
            if json { print(jsonLine(["file": file, "error": message])) }
            printError("error: " + message)
        }
        fflush(nil)
    }

    private func writeDump(_ inter: Intermediates, to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let s = inter.imageSize
        try writeFileAtomically(npyData(inter.pixelValues, shape: [1, 3, s, s]), to: dir + "/pixel_values.npy")
        try writeFileAtomically(npyData(inter.imageEmbedding, shape: [1, inter.imageEmbedding.count]), to: dir + "/image_embedding.npy")
        let p = inter.prefixLength
        try writeFileAtomically(npyData(inter.prefixEmbeddings, shape: [1, p, inter.prefixEmbeddings.count / max(p, 1)]), to: dir + "/prefix_embeddings.npy")
        if !inter.logits.isEmpty {
            try writeFileAtomically(npyData(inter.logits.flatMap { $0 }, shape: [inter.logits.count, inter.logits[0].count]), to: dir + "/logits.npy")
        }
    }

    func reportKernels(_ model: CaptionModel) {
        printError("backend \(model.backend.name), \(model.options.threads) thread(s)")
        for row in model.kernelAssignment {
            printError("  \(row.graph): \(row.op) x\(row.count) -> \(row.backend)\(row.fallback ? " (fallback: \(model.backend.name) lacks it)" : "")")
        }
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
