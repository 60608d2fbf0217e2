import ArgumentParser
import ClipCap
import Foundation

/// `clipcapctl profile`: per-operator latency of captioning one image.
struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Time every graph node while captioning an image; print a table by op type and the slowest nodes.",
        discussion: "One warm-up run is not recorded. The sum of the rows is reconciled against the measured wall time of the runs; the difference is time outside any node (image decoding, preprocessing, sampling, copies).")

    @Argument(help: "The image to caption.")
    var image: String

    @Option(name: .long, help: "The model file (.ccm).")
    var model: String

    @Option(name: .long, help: "Backend: auto (int8 for quantized files where the CPU can run it, blas otherwise), naive, blas, int8.")
    var backend: String = "auto"

    @Option(name: .long, parsing: .unconditional, help: "Threads (default: all cores; more than the cores is clamped).")
    var threads: Int?

    @Option(name: .long, parsing: .unconditional, help: "Recorded runs (after one warm-up).")
    var runs: Int = 3

    @Option(name: .customLong("max-tokens"), parsing: .unconditional, help: "Tokens to decode per run (stop tokens are ignored until then, so every run does the same work).")
    var maxTokens: Int = 20

    @Option(name: .long, parsing: .unconditional, help: "Candidates decoded as one batch (sampling, top-p 0.8, like the seed's loop); 1 = greedy.")
    var candidates: Int = 1

    @OptionGroup var memory: WeightResidencyOption

    @OptionGroup var checksums: ChecksumOption

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    @Option(name: .long, help: "Write a Chrome trace-event JSON file (open in Perfetto or chrome://tracing).")
    var trace: String?

    @Option(name: .long, help: "Write an SVG bar chart of time by op type per phase.")
    var svg: String?

    @Flag(name: .long, help: "Print the backend chain and which backend runs each op to stderr.")
    var verbose = false

    func validate() throws {
        try ThreadCount.validate(threads)
        for (name, value) in [("--runs", runs), ("--max-tokens", maxTokens), ("--candidates", candidates)] where value < 1 {
            throw ValidationError("\(name) must be at least 1 (got \(value))")
        }
    }

    func run() throws {
        var loadOptions = LoadOptions(backend: backend, threads: ThreadCount.resolve(threads), verifyChecksums: checksums.verify, maxBatch: candidates, maxTokens: maxTokens)
        loadOptions.residency = memory.residency
        let loaded = try ModelLoading.load(model, options: loadOptions)
        if verbose { ModelLoading.reportKernels(loaded) }
        let tokens = ModelLoading.tokenLimit(maxTokens, model: loaded)
        var options = DecodingOptions(strategy: candidates > 1 ? .sample : .greedy, numCandidates: candidates,
                                      topP: candidates > 1 ? 0.8 : 1, seed: 1, maxTokens: tokens)
        options.minTokens = tokens
        _ = try loaded.caption(imageAt: image, options: options)  // warm-up: page in weights, size scratch
        let profiler = Profiler()
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<runs { _ = try loaded.caption(imageAt: image, options: options, profiler: profiler) }
        let wallMs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        let report = ProfileReport(profiler: profiler, wallMs: wallMs, runs: runs)
        if let trace { try writeFileAtomically(try ChromeTrace.data(profiler), to: trace) }
        if let svg {
            let title = "clipcap profile — \((model as NSString).lastPathComponent), backend \(loaded.backend.name), \(loaded.options.threads) thread(s)"
            try writeFileAtomically(Data(ProfileChart.svg(report, title: title).utf8), to: svg)
        }
        if json {
            var object = report.jsonObject()
            object["model"] = model
            object["backend"] = loaded.backend.name
            object["threads"] = loaded.options.threads
            object["image"] = image
            object["candidates"] = candidates
            print(jsonLine(object))
        } else {
            print("model \(model), backend \(loaded.backend.name), \(loaded.options.threads) thread(s), \(tokens) tokens per run, \(candidates) candidate(s)")
            print(report.text(), terminator: "")
        }
    }
}
