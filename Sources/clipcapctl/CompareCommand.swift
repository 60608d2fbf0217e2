import ArgumentParser
import ClipCap
import Foundation

/// `clipcapctl compare`: how closely model B (e.g. int8) follows model A (float) on images.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two models (e.g. float vs int8) image by image.",
        discussion: """
            Per image and overall: cosine of the CLIP image embeddings and of the prefix embeddings; along A's greedy \
            caption (teacher forcing: both models read A's tokens), the mean KL divergence KL(A ‖ B) of the next-token \
            distributions and how often their top-1 tokens agree; and whether the two greedy captions are identical.
            """)

    @Argument(help: "The reference model (.ccm), usually float.")
    var modelA: String

    @Argument(help: "The model to compare (.ccm), usually int8.")
    var modelB: String

    @Argument(help: "Image files or folders.")
    var images: [String]

    @Option(name: .customLong("backend-a"), help: "Backend for model A (auto: int8 for quantized files, blas otherwise).")
    var backendA: String = "auto"

    @Option(name: .customLong("backend-b"), help: "Backend for model B (auto: int8 for quantized files, blas otherwise).")
    var backendB: String = "auto"

    @Option(name: .long, parsing: .unconditional, help: "Threads per model (default: all cores; more than the cores is clamped).")
    var threads: Int?

    @Option(name: .customLong("max-tokens"), parsing: .unconditional, help: "Most tokens per greedy caption.")
    var maxTokens: Int = 30

    @Flag(name: .long, help: "One JSON object per image (status ok or error), then one for the overall figures (docs/JSON.md).")
    var json = false

    @OptionGroup var checksums: ChecksumOption

    func validate() throws {
        try ThreadCount.validate(threads)
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1 (got \(maxTokens))") }
    }

    func run() throws {
        let files = try collectImages(images)
        guard !files.isEmpty else { throw CLIError("no .jpg/.jpeg/.png images found in \(images.joined(separator: ", "))") }
        let comparison = try ModelComparison(pathA: modelA, pathB: modelB, backendA: backendA, backendB: backendB,
                                             threads: ThreadCount.resolve(threads), maxTokens: maxTokens, verify: checksums.verify)
        let progress = ProgressLine(total: files.count, label: "comparing")
        var rows: [ImageComparison] = []
        var failed = 0
        // One image that cannot be read or compared is that image's error; the others go on.
        for file in files {
            do {
                let row = try comparison.compare(imageAt: file)
                rows.append(row)
                print(json ? jsonLine(row.json) : row.text)
            } catch {
                failed += 1
                let message = perImageMessage(file: file, error: error)
                if json { print(jsonLine(["file": file, "status": "error", "error": message])) }
                printError("error: " + message)
            }
            fflush(nil)
            progress.advance()
        }
        progress.finish()
        let overall = ComparisonSummary(rows)
        var summary = overall.json
        summary["failed"] = failed
        print(json ? jsonLine(summary) : overall.text + (failed > 0 ? "; \(failed) image(s) failed" : ""))
        if failed > 0 { throw CLIError("\(failed) of \(files.count) images could not be compared (see the messages above)") }
    }
}

/// Two loaded models and the comparison of one image between them.
struct ModelComparison {
    let a: CaptionModel
    let b: CaptionModel
    let maxTokens: Int

    init(pathA: String, pathB: String, backendA: String, backendB: String, threads: Int, maxTokens: Int, verify: Bool = true) throws {
        a = try ModelLoading.load(pathA, options: LoadOptions(backend: backendA, threads: threads, verifyChecksums: verify, maxBatch: 1, maxTokens: maxTokens))
        b = try ModelLoading.load(pathB, options: LoadOptions(backend: backendB, threads: threads, verifyChecksums: verify, maxBatch: 1, maxTokens: maxTokens))
        try Self.requireComparable(a, b)
        self.maxTokens = min(maxTokens, ModelLoading.tokenLimit(maxTokens, model: a), ModelLoading.tokenLimit(maxTokens, model: b))
    }

    /// Two models compare only when their token ids and vectors mean the same things: the same
    /// tokenizer and the same sizes (otherwise cosines and KL divergences are meaningless).
    static func requireComparable(_ a: CaptionModel, _ b: CaptionModel) throws {
        let ca = a.config, cb = b.config
        let sizes: [(String, Int, Int)] = [("image.size", ca.imageSize, cb.imageSize), ("clipcap.prefix_length", ca.prefixLength, cb.prefixLength),
                                           ("decoder.hidden_size", ca.hiddenSize, cb.hiddenSize), ("decoder.vocab_size", ca.vocabSize, cb.vocabSize)]
        for (key, x, y) in sizes where x != y {
            throw CLIError("\(b.path): \(key) is \(y), but \(x) in \(a.path); compare needs two versions of one model (e.g. float and int8 of the same checkpoint)")
        }
        if a.file.tokenizer != b.file.tokenizer {
            throw CLIError("\(b.path): its tokenizer differs from \(a.path)'s, so token ids do not mean the same words; compare needs two versions of one model (e.g. float and int8 of the same checkpoint)")
        }
    }

    func compare(imageAt path: String) throws -> ImageComparison {
        let image = try ImageDecoder.decode(path: path, limits: a.options.imageLimits)
        var greedy = DecodingOptions()
        greedy.strategy = .greedy
        greedy.maxTokens = maxTokens
        guard let captionA = try a.caption(image: image, options: greedy).captions.first,
              let captionB = try b.caption(image: image, options: greedy).captions.first else {
            throw CLIError("\(path): a model returned no caption")
        }
        let forcedA = try a.teacherForcedLogits(image: image, tokens: captionA.tokenIDs)
        let forcedB = try b.teacherForcedLogits(image: image, tokens: captionA.tokenIDs)
        let positions = min(forcedA.logits.count, forcedB.logits.count)
        var kl = 0.0, agree = 0
        for p in 0..<positions {
            kl += Divergence.kl(logitsP: forcedA.logits[p], logitsQ: forcedB.logits[p])
            if Divergence.argmax(forcedA.logits[p]) == Divergence.argmax(forcedB.logits[p]) { agree += 1 }
        }
        return ImageComparison(file: path,
                               imageCosine: Divergence.cosine(forcedA.imageEmbedding, forcedB.imageEmbedding),
                               prefixCosine: Divergence.cosine(forcedA.prefixEmbeddings, forcedB.prefixEmbeddings),
                               meanKL: positions > 0 ? kl / Double(positions) : 0,
                               positions: positions, top1Agreements: agree,
                               captionA: captionA.text, captionB: captionB.text)
    }
}

/// The figures for one image.
struct ImageComparison {
    var file: String
    var imageCosine: Double
    var prefixCosine: Double
    /// Mean over positions of KL(A ‖ B) in nats.
    var meanKL: Double
    var positions: Int
    var top1Agreements: Int
    var captionA: String
    var captionB: String

    var top1Rate: Double { positions > 0 ? Double(top1Agreements) / Double(positions) : 1 }
    var identical: Bool { captionA == captionB }

    var json: [String: Any] {
        ["file": file, "status": "ok", "image_cosine": imageCosine, "prefix_cosine": prefixCosine, "mean_kl": meanKL,
         "positions": positions, "top1_agreement": top1Rate, "caption_a": captionA, "caption_b": captionB,
         "identical": identical]
    }

    var text: String {
        String(format: "%@\timage cos %.6f\tprefix cos %.6f\tKL %.5f\ttop-1 %d/%d\t%@", file, imageCosine, prefixCosine, meanKL,
               top1Agreements, positions, identical ? "same caption" : "A: \(captionA) | B: \(captionB)")
    }
}

/// Overall figures over the images.
struct ComparisonSummary {
    var images = 0
    var meanImageCosine = 0.0, minImageCosine = 1.0
    var meanPrefixCosine = 0.0, minPrefixCosine = 1.0
    var meanKL = 0.0
    var positions = 0, agreements = 0
    var identicalCaptions = 0

    init(_ rows: [ImageComparison]) {
        images = rows.count
        guard !rows.isEmpty else { return }
        let n = Double(rows.count)
        meanImageCosine = rows.map(\.imageCosine).reduce(0, +) / n
        minImageCosine = rows.map(\.imageCosine).min() ?? 1
        meanPrefixCosine = rows.map(\.prefixCosine).reduce(0, +) / n
        minPrefixCosine = rows.map(\.prefixCosine).min() ?? 1
        positions = rows.map(\.positions).reduce(0, +)
        agreements = rows.map(\.top1Agreements).reduce(0, +)
        meanKL = positions > 0 ? rows.map { $0.meanKL * Double($0.positions) }.reduce(0, +) / Double(positions) : 0
        identicalCaptions = rows.filter(\.identical).count
    }

    var top1Rate: Double { positions > 0 ? Double(agreements) / Double(positions) : 1 }

    var json: [String: Any] {
        ["overall": true, "images": images, "mean_image_cosine": meanImageCosine, "min_image_cosine": minImageCosine,
         "mean_prefix_cosine": meanPrefixCosine, "min_prefix_cosine": minPrefixCosine, "mean_kl": meanKL,
         "top1_agreement": top1Rate, "positions": positions, "identical_captions": identicalCaptions]
    }

    var text: String {
        String(format: "overall: %d images; image cos mean %.6f min %.6f; prefix cos mean %.6f min %.6f; KL %.5f nats; top-1 %.2f%% (%d/%d); identical captions %d/%d",
               images, meanImageCosine, minImageCosine, meanPrefixCosine, minPrefixCosine, meanKL, 100 * top1Rate,
               agreements, positions, identicalCaptions, images)
    }
}

/// Distances between vectors and between next-token distributions given as logits.
enum Divergence {
    static func cosine(_ x: [Float], _ y: [Float]) -> Double {
        guard x.count == y.count, !x.isEmpty else { return 0 }
        var dot = 0.0, nx = 0.0, ny = 0.0
        for i in 0..<x.count {
            dot += Double(x[i]) * Double(y[i])
            nx += Double(x[i]) * Double(x[i])
            ny += Double(y[i]) * Double(y[i])
        }
        return nx > 0 && ny > 0 ? dot / (nx.squareRoot() * ny.squareRoot()) : 0
    }

    /// log-softmax in Double (max-subtracted).
    static func logSoftmax(_ logits: [Float]) -> [Double] {
        let m = Double(logits.max() ?? 0)
        let lse = m + Foundation.log(logits.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) })
        return logits.map { Double($0) - lse }
    }

    /// KL(P ‖ Q) in nats for P = softmax(logitsP), Q = softmax(logitsQ).
    static func kl(logitsP: [Float], logitsQ: [Float]) -> Double {
        guard logitsP.count == logitsQ.count, !logitsP.isEmpty else { return .nan }
        let lp = logSoftmax(logitsP), lq = logSoftmax(logitsQ)
        var total = 0.0
        for i in 0..<lp.count { total += Foundation.exp(lp[i]) * (lp[i] - lq[i]) }
        return max(0, total)
    }

    static func argmax(_ v: [Float]) -> Int {
        var best = 0
        for i in 1..<max(v.count, 1) where v[i] > v[best] { best = i }
        return best
    }
}
