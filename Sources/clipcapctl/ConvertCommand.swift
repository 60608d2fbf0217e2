import ArgumentParser
import CCMFormat
import Foundation
import ModelConverter

/// `clipcapctl convert`: PyTorch / Hugging Face checkpoints -> one `.ccm` model file.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a CLIP checkpoint, a ClipCap checkpoint and a GPT-2 folder into one .ccm model.",
        discussion: """
            --clip: OpenAI ViT-B-32.pt (TorchScript) or a state-dict .pt, or a Hugging Face \
            CLIPVisionModelWithProjection folder / .safetensors. --checkpoint: ClipCap-Chinese or original \
            ClipCap state dict (.pt or .safetensors). --gpt2: folder with config.json and vocab.txt \
            (WordPiece) or vocab.json + merges.txt (BPE). Nothing in the inputs is executed. See docs/CONVERT.md.
            """)

    @Option(name: .long, help: "CLIP image encoder: .pt, .safetensors or a Hugging Face folder.")
    var clip: String

    @Option(name: .long, help: "ClipCap checkpoint (mapper + GPT-2 weights): .pt or .safetensors.")
    var checkpoint: String

    @Option(name: .long, help: "GPT-2 folder: config.json, tokenizer files (and weights if the checkpoint has none).")
    var gpt2: String

    @Option(name: .long, help: "BERT folder with config.json (ClipCap-Chinese BERT mapper).")
    var bert: String?

    @Option(name: .long, help: "Mapping network: mlp, bert or transformer (default: detected from the keys).")
    var mapping: String?

    @Option(name: .customLong("prefix-len"), help: "Expected prefix length; checked against the weights (default: from the weights).")
    var prefixLen: Int?

    @Option(name: .customLong("constant-len"), help: "Expected BERT constant / transformer clip length; checked against the weights.")
    var constantLen: Int?

    @Option(name: .customLong("mapper-heads"), help: "Heads of the original ClipCap transformer mapper (default 8, as in its code).")
    var mapperHeads: Int?

    @Flag(name: .customLong("normalize-prefix"), help: "L2-normalise the CLIP embedding before the mapper (ClipCap --normalize_prefix).")
    var normalizePrefix = false

    @Option(name: .customLong("stop-string"), help: "End a caption when a generated token's text contains this string (repeatable). Default: none; captions stop on token ids ('.' and <|endoftext|> for BPE vocabularies, [SEP] for WordPiece), as ClipCap's predict.py does.")
    var stopStrings: [String] = []

    @Option(name: .long, help: "Stored type of matrices and embedding tables: auto (f16 where the source is f16, like OpenAI's CLIP; f32 otherwise: nothing is rounded), f32 or f16.")
    var dtype: String = "auto"

    @Option(name: .long, help: "Tensor compression: none or zstd (byte-shuffled zstd).")
    var compress: String = "none"

    @Flag(name: .long, help: "Print the summary as JSON on stdout.")
    var json = false

    @Option(name: .shortAndLong, help: "The .ccm file to write (atomically).")
    var output: String

    func validate() throws {
        guard ["auto", "f32", "f16"].contains(dtype) else { throw ValidationError("--dtype must be auto, f32 or f16") }
        guard compress == "none" || compress == "zstd" else { throw ValidationError("--compress must be none or zstd") }
        if let mapping, MappingType(rawValue: mapping) == nil {
            throw ValidationError("--mapping must be mlp, bert or transformer")
        }
        for (name, value) in [("--prefix-len", prefixLen), ("--constant-len", constantLen), ("--mapper-heads", mapperHeads)] {
            if let value, value < 1 { throw ValidationError("\(name) must be at least 1") }
        }
    }

    func run() throws {
        var options = ConvertOptions(
            clipPath: clip, checkpointPath: checkpoint, gpt2Folder: gpt2, bertFolder: bert,
            mapping: mapping.flatMap(MappingType.init(rawValue:)), prefixLength: prefixLen, constantLength: constantLen,
            normalizePrefix: normalizePrefix, mapperHeads: mapperHeads, dtype: dtype == "auto" ? nil : DType(name: dtype),
            encoding: compress == "zstd" ? .shuffledZstd : .raw, outputPath: output)
        options.stopStrings = stopStrings
        let display = ConvertProgressDisplay(enabled: stderrIsTerminal)
        let summary: ConvertSummary
        do {
            summary = try Converter.convert(options) { display.show($0) }
        } catch {
            display.clear()
            throw CLIError(String(describing: error))
        }
        display.clear()
        // Warnings on stderr too, so a --json run (stdout for machines) still shows them.
        for warning in summary.warnings { printError("warning: \(warning)") }
        if json {
            print(try jsonLine(encoding: summary))
        } else {
            print(Self.describe(summary))
        }
    }

    static func describe(_ s: ConvertSummary) -> String {
        let mb = Double(s.bytes) / 1_048_576
        var lines = [
            "wrote \(s.output)",
            "  model:      \(s.architecture)",
            "  tokenizer:  \(s.tokenizer), vocab \(s.vocabSize); prefix \(s.prefixLength); image \(s.imageSize)x\(s.imageSize)",
            "  tensors:    \(s.tensors) (\(s.parameters) parameters, \(s.dtype)), LM head \(s.tiedLMHead ? "tied to wte" : "separate")",
            "  prefix:     CLIP embedding \(s.normalizePrefix ? "L2-normalised before the mapper (--normalize-prefix)" : "fed to the mapper as it is (no --normalize-prefix)")",
            "  file:       " + String(format: "%.1f MiB in %.1f s", mb, s.seconds),
        ]
        for (role, names) in s.skipped.sorted(by: { $0.key < $1.key }) {
            let shown = names.prefix(6).joined(separator: ", ") + (names.count > 6 ? ", ..." : "")
            lines.append("  skipped:    \(names.count) \(role) entries on purpose (buffers, CLIP text tower, unused BERT parts): \(shown)")
        }
        for warning in s.warnings { lines.append("  warning:    \(warning)") }
        return lines.joined(separator: "\n")
    }
}

/// Draws conversion progress on stderr (only when it is a terminal).
final class ConvertProgressDisplay: @unchecked Sendable {
    private let enabled: Bool
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(enabled: Bool) { self.enabled = enabled }

    func show(_ p: ConvertProgress) {
        guard enabled else { return }
        let now = Date()
        if p.phase == .writing && p.completed < p.total && now.timeIntervalSince(lastDraw) < 0.1 { return }
        lastDraw = now
        let name = URL(fileURLWithPath: p.detail).lastPathComponent
        let text: String
        switch p.phase {
        case .reading: text = "reading \(name)"
        case .hashing: text = "hashing \(name)"
        case .writing:
            let width = 30
            let filled = p.total > 0 ? width * p.completed / p.total : width
            text = "writing \(name) [" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
                + "] \(p.completed)/\(p.total) tensors"
        }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
        drawn = true
    }

    func clear() {
        if enabled && drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        drawn = false
    }
}
