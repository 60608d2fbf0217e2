import ArgumentParser
import ClipCap
import Foundation

/// `clipcapctl bench`: every phase on every backend, side by side.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark captioning phases on several backends; medians, min–max, ms/token, images/s, peak RSS, and ratios to the first backend.",
        discussion: "Each backend runs in its own process so that its peak RSS and its start-up are its own. Every run decodes exactly --tokens tokens (stop tokens are ignored until then). Figures are printed, never judged: these machines are shared and noisy.")

    @Argument(help: "The image to caption.")
    var image: String

    @Option(name: .long, help: "The model file (.ccm).")
    var model: String

    @Option(name: .long, help: "Comma-separated backends (auto, naive, blas, int8); ratios are against the first.")
    var backends: String = "auto"

    @Option(name: .long, parsing: .unconditional, help: "Threads (default: all cores; more than the cores is clamped).")
    var threads: Int?

    @Option(name: .long, parsing: .unconditional, help: "Measured runs per backend (after one warm-up).")
    var runs: Int = 5

    @Option(name: .long, parsing: .unconditional, help: "Tokens decoded per run.")
    var tokens: Int = 20

    @Option(name: .long, parsing: .unconditional, help: "Candidates per image decoded as one batch (sampling, top-p 0.8, like the seed's loop); 1 = greedy.")
    var candidates: Int = 1

    @OptionGroup var memory: WeightResidencyOption

    @OptionGroup var checksums: ChecksumOption

    @Flag(name: .long, help: "Also run the first backend with the profiler on, to show its overhead.")
    var profilerOverhead = false

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Option(name: .long, help: .hidden)
    var worker: String?

    @Flag(name: .long, help: .hidden)
    var profiled = false

    func validate() throws {
        try ThreadCount.validate(threads)
        for (name, value) in [("--runs", runs), ("--tokens", tokens), ("--candidates", candidates)] where value < 1 {
            throw ValidationError("\(name) must be at least 1 (got \(value))")
        }
    }

    func run() throws {
        if let worker { try runWorker(backend: worker); return }
        let names = backends.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw CLIError("--backends is empty") }
        var rows: [(label: String, result: [String: Any])] = []
        var plan = names.map { ($0, false) }
        if profilerOverhead { plan.append((names[0], true)) }
        for (name, profiled) in plan {
            let label = profiled ? "\(name)+profiler" : name
            if !json { FileHandle.standardError.write("bench: \(label)...\n".data(using: .utf8)!) }
            rows.append((label, try spawnWorker(backend: name, profiled: profiled)))
        }
        if json {
            print(jsonLine(["model": model, "image": image, "tokens": tokens, "candidates": candidates, "runs": runs, "low_memory": memory.lowMemory, "residency": memory.residency.rawValue,
                            "results": rows.map { r -> [String: Any] in var d = r.result; d["label"] = r.label; return d }]))
        } else {
            printTable(rows)
        }
    }

    // MARK: parent

    private func spawnWorker(backend: String, profiled: Bool) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0] :
            FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0])
        if let exe = Bundle.main.executableURL { process.executableURL = exe }
        var args = ["bench", image, "--model", model, "--worker", backend, "--runs", String(runs), "--tokens", String(tokens),
                    "--candidates", String(candidates)]
        if let threads { args += ["--threads", String(threads)] }
        if profiled { args.append("--profiled") }
        args += memory.arguments
        process.arguments = args
        let pipe = Pipe()
        process.standardOutput = pipe
        let started = DispatchTime.now().uptimeNanoseconds
        try process.run()
        var firstCaptionMs = 0.0
        var result: [String: Any] = [:]
        var buffer = Data()
        let handle = pipe.fileHandleForReading
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let nl = buffer.firstIndex(of: 0x0a) {
                let line = buffer[buffer.startIndex..<nl]
                buffer = Data(buffer[(nl + 1)...])
                guard let obj = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else { continue }
                if obj["event"] as? String == "first_caption" {
                    firstCaptionMs = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
                } else {
                    result = obj
                }
            }
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0, !result.isEmpty else {
            throw CLIError("bench: the \(backend) run failed (exit \(process.terminationStatus)); run `clipcapctl caption \(image) --model \(model) --backend \(backend)` to see why")
        }
        result["process_to_first_caption_ms"] = firstCaptionMs
        return result
    }

    private func printTable(_ rows: [(label: String, result: [String: Any])]) {
        let phases = ["decode_image", "preprocess", "image_encoder", "mapper", "prefill", "ms_per_token", "total"]
        func stat(_ r: [String: Any], _ key: String) -> (Double, Double, Double) {
            let s = (r["phases"] as? [String: [String: Double]])?[key] ?? [:]
            return (s["median"] ?? 0, s["min"] ?? 0, s["max"] ?? 0)
        }
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        print("model \(model), image \(image), \(tokens) tokens, \(candidates) candidate(s), \(runs) runs, weights \(memory.residency.rawValue); medians in ms [min–max]; ratio = backend / \(rows[0].label)")
        var header = pad("phase", 16)
        for r in rows { header += " " + lpad(r.label, 30) }
        print(header)
        for p in phases {
            var line = pad(p, 16)
            let base = stat(rows[0].result, p).0
            for r in rows {
                let (med, lo, hi) = stat(r.result, p)
                let ratio = base > 0 ? String(format: " x%.2f", med / base) : ""
                line += " " + lpad(String(format: "%.2f [%.1f–%.1f]", med, lo, hi) + ratio, 30)
            }
            print(line)
        }
        var ips = pad("images/s", 16), rss = pad("peak RSS MiB", 16), cold = pad("cold start ms", 16)
        for r in rows {
            ips += " " + lpad(String(format: "%.2f", r.result["images_per_s"] as? Double ?? 0), 30)
            rss += " " + lpad(String(format: "%.0f", r.result["peak_rss_mib"] as? Double ?? 0), 30)
            cold += " " + lpad(String(format: "%.0f", r.result["process_to_first_caption_ms"] as? Double ?? 0), 30)
        }
        print(ips); print(rss); print(cold)
    }

    // MARK: worker

    private func runWorker(backend: String) throws {
        var loadOptions = LoadOptions(backend: backend, threads: ThreadCount.resolve(threads), verifyChecksums: checksums.verify, maxBatch: candidates, maxTokens: tokens)
        loadOptions.residency = memory.residency
        let loaded = try ModelLoading.load(model, options: loadOptions)
        let tokens = ModelLoading.tokenLimit(self.tokens, model: loaded, option: "--tokens")
        var options = DecodingOptions(strategy: candidates > 1 ? .sample : .greedy, numCandidates: candidates,
                                      topP: candidates > 1 ? 0.8 : 1, seed: 1, maxTokens: tokens)
        options.minTokens = tokens
        let first = try loaded.caption(imageAt: image, options: options)
        print(jsonLine(["event": "first_caption", "caption": first.captions.first?.text ?? ""]))
        fflush(nil)
        let profiler = profiled ? Profiler() : nil
        var samples: [String: [Double]] = [:]
        for _ in 0..<runs {
            let t = try loaded.caption(imageAt: image, options: options, profiler: profiler).timings
            let values = ["decode_image": t.decodeImage, "preprocess": t.preprocess, "image_encoder": t.imageEncoder,
                          "mapper": t.mapper, "prefill": t.prefill, "decode": t.decode, "ms_per_token": t.msPerToken, "total": t.total]
            for (k, v) in values { samples[k, default: []].append(v) }
            profiler?.reset()
        }
        var phases: [String: [String: Double]] = [:]
        for (k, v) in samples {
            let s = v.sorted()
            phases[k] = ["median": s[s.count / 2], "min": s.first!, "max": s.last!]
        }
        let memory = ProcessMemory.current()
        let medianTotal = phases["total"]?["median"] ?? 0
        print(jsonLine(["backend": loaded.backend.name, "tokens": tokens, "threads": loaded.options.threads, "phases": phases,
                        "images_per_s": medianTotal > 0 ? 1000 / medianTotal : 0,
                        "peak_rss_mib": memory.peakResidentMiB, "rss_anon_mib": memory.anonymousMiB, "rss_file_mib": memory.fileMiB,
                        "caption": first.captions.first?.text ?? ""]))
    }
}
