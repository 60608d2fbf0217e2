import ArgumentParser
import ClipCap
import Foundation
import ModelConverter

/// `clipcapctl quantize`: rewrite a float model's linear layers to int8 (docs/INT8.md).
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a float .ccm model's linear layers and convolutions to int8 (caption picks the int8 backend for it by itself).",
        discussion: """
            Weights become symmetric int8 with f32 scales: per output channel (per_channel, the default) or per block \
            of 32 inputs (block32). Norms, biases and token embeddings stay float. The output is written atomically. \
            --report compares the input (blas) and output (int8) models on images, as `clipcapctl compare` does.
            """)

    @Argument(help: "The float model (.ccm).")
    var input: String

    @Option(name: [.short, .long], help: "The int8 model to write (.ccm).")
    var output: String

    @Option(name: .long, help: "per_channel or block32.")
    var scheme: String = "per_channel"

    @Option(name: .long, parsing: .upToNextOption, help: "Glob(s) on node or tensor names of linear layers to keep in float (e.g. 'lm_head' 'clip.*').")
    var keep: [String] = []

    @Flag(name: .customLong("quantize-embeddings"), help: "Also store the token-embedding table as int8.")
    var quantizeEmbeddings = false

    @Option(name: .long, parsing: .upToNextOption, help: "Images (files or folders) to compare the two models on after writing.")
    var report: [String] = []

    @Option(name: .long, parsing: .unconditional, help: "Threads for --report (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Print the summary as one JSON object.")
    var json = false

    func validate() throws {
        guard QuantizationScheme(name: scheme) != nil else { throw ValidationError("--scheme must be per_channel or block32 (blockN), got '\(scheme)'") }
        try ThreadCount.validate(threads)
    }

    func run() throws {
        guard let scheme = QuantizationScheme(name: scheme) else { throw CLIError("unknown scheme \(self.scheme)") }
        let options = QuantizeOptions(scheme: scheme, keepPatterns: keep, quantizeEmbeddings: quantizeEmbeddings)
        // --report's images are checked before anything is written: a typo must not cost a
        // quantization run and leave a model behind.
        var reportFiles: [String] = []
        if !report.isEmpty {
            if let missing = missingPaths(report).first {
                throw CLIError("--report: \(missing): no such file or folder; nothing was written")
            }
            reportFiles = try collectImages(report)
            guard !reportFiles.isEmpty else { throw CLIError("--report: no .jpg/.jpeg/.png images found in \(report.joined(separator: ", ")); nothing was written") }
        }
        let start = Date()
        var line: ProgressLine?
        let quantizeReport: QuantizeReport
        do {
            quantizeReport = try Quantizer.quantize(input: input, output: output, options: options) { _, total in
                if line == nil { line = ProgressLine(total: total, label: "quantizing") }
                line?.advance()
            }
        } catch {
            line?.finish()
            throw CLIError("\(error)")
        }
        line?.finish()
        let seconds = Date().timeIntervalSince(start)

        var comparison: ComparisonSummary?
        if !reportFiles.isEmpty {
            let files = reportFiles
            let models = try ModelComparison(pathA: input, pathB: output, backendA: "blas", backendB: "int8",
                                             threads: ThreadCount.resolve(threads), maxTokens: 30)
            let progress = ProgressLine(total: files.count, label: "comparing")
            var rows: [ImageComparison] = []
            for file in files {
                rows.append(try models.compare(imageAt: file))
                progress.advance()
            }
            progress.finish()
            comparison = ComparisonSummary(rows)
        }

        let r = quantizeReport
        if json {
            var object: [String: Any] = [
                "input": r.inputPath, "output": r.outputPath, "scheme": r.scheme.description,
                "input_bytes": r.inputBytes, "output_bytes": r.outputBytes, "ratio": r.sizeRatio,
                "quantized_nodes": r.quantizedNodes.count, "kept_nodes": r.keptNodes, "quantized_embeddings": r.quantizedEmbeddings,
                "dropped_tensors": r.droppedTensors.count, "mean_relative_rms_error": r.meanRelativeRMSError,
                "worst_relative_rms_error": r.worstRelativeRMSError, "seconds": seconds,
            ]
            if let comparison { object["report"] = comparison.json }
            object["run"] = runHint(r.outputPath)
            print(jsonLine(object))
        } else {
            let mb = { (b: Int) in String(format: "%.1f MB", Double(b) / 1e6) }
            print("wrote \(r.outputPath) (\(r.scheme)) in \(String(format: "%.1f", seconds)) s")
            print("size: \(mb(r.inputBytes)) -> \(mb(r.outputBytes)) (\(String(format: "%.1f%%", 100 * r.sizeRatio)))")
            print("linear layers and convolutions: \(r.quantizedNodes.count) int8, \(r.keptNodes.count) kept float\(r.keptNodes.isEmpty ? "" : " (" + r.keptNodes.joined(separator: ", ") + ")")")
            if !r.quantizedEmbeddings.isEmpty { print("int8 embeddings: \(r.quantizedEmbeddings.joined(separator: ", "))") }
            print("dropped float tensors: \(r.droppedTensors.count)")
            let worst = r.errors.max { $0.relativeRMSError < $1.relativeRMSError }
            print(String(format: "weight error: relative RMS mean %.4f%%, worst %.4f%%%@", 100 * r.meanRelativeRMSError,
                         100 * r.worstRelativeRMSError, worst.map { " (\($0.tensor))" } ?? ""))
            if let comparison { print(comparison.text) }
            print("run it: \(runHint(r.outputPath))")
        }
    }

    /// How to caption with the written file: `auto` (the default) picks int8 where the CPU can
    /// run it, so no flag is needed; naming the backend is for where it cannot.
    private func runHint(_ output: String) -> String {
        "clipcapctl caption IMAGES --model \(output) (the default --backend auto runs it on int8\(Self.int8Available ? "" : ", which this CPU cannot run: it will use blas, slowly"))"
    }

    private static var int8Available: Bool {
        ClipCap.registerStandardBackends()
        return BackendRegistry.shared.backend(named: "int8")?.availability.available ?? false
    }
}
