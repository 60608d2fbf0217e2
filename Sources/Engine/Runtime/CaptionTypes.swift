import Foundation
import ImageIO

/// How the model is loaded and run.
public struct LoadOptions: Sendable {
    /// Backend name (`naive`, `blas`, `int8`, or any registered plugin), or `auto`: `int8` for
    /// quantized files where the CPU can run it, `blas` otherwise (`CaptionModel.backend` says
    /// which was chosen).
    public var backend: String = "auto"
    /// Threads for our kernels and for libraries the backend drives (OpenBLAS).
    public var threads: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Check the CRC32C of every tensor the graphs read when the model loads (their first use),
    /// over `threads` threads. On by default: costs one read of the weights (docs/ENGINE.md).
    public var verifyChecksums: Bool = true
    /// Largest number of candidates (beams or samples) decoded together for one image.
    public var maxBatch: Int = 8
    /// Largest number of tokens a caption may have; sizes the KV cache.
    public var maxTokens: Int = 100
    /// Images the batch and streaming calls (`captions(for:)`, `captionStream`, `caption DIR`)
    /// decode together at most. The KV cache has `max(maxBatch, batchRows ?? batchSize)` rows, and each
    /// image takes one row per candidate (greedy 1, beam its width): the batch is as many
    /// images as fit. Measured on this project's machine: docs/PERFORMANCE.md.
    public var batchSize: Int = LoadOptions.defaultBatchSize
    /// The default `batchSize`.
    public static let defaultBatchSize = 32
    /// KV-cache rows the sessions plan for batching (nil: `max(maxBatch, batchSize)`): set it
    /// to `batchSize × beams` to batch that many beam-search images at once.
    public var batchRows: Int? = nil
    /// With `residency == .all`: map all of the model's pages at load (`MAP_POPULATE`) rather
    /// than faulting them in one by one during the first caption (every weight is read by the
    /// first caption anyway). The other residencies map each phase's pages ahead of it instead.
    public var prefault: Bool = true
    /// Which weights stay mapped between uses (docs/ENGINE.md). The default streams the image
    /// encoder's weights through memory for each image and keeps the mapper's and decoder's.
    public var residency: WeightResidency = .perImage
    /// Per-image and per-phase residency: about how many bytes of the image encoder's weights
    /// are mapped at a time while it runs (`WeightStages`). Smaller stages lower the peak RSS
    /// for more, smaller mapping calls.
    public var encoderStageBytes: Int = 16 << 20
    /// Limits for decoding image files and bytes (`caption(imageAt:)`, `caption(encodedImage:)`):
    /// the largest pixel count and file size accepted (`clipcapctl caption --max-pixels`).
    public var imageLimits = ImageLimits()
    /// `residency == .perPhase`: release each phase's weights once it is done, the decoder's
    /// too (setting `false` goes back to the default, `.perImage`).
    public var lowMemory: Bool {
        get { residency == .perPhase }
        set { residency = newValue ? .perPhase : .perImage }
    }

    public init(backend: String = "auto", threads: Int? = nil, verifyChecksums: Bool = true, maxBatch: Int = 8,
                maxTokens: Int = 100, batchSize: Int = LoadOptions.defaultBatchSize) {
        self.backend = backend
        self.batchSize = max(1, batchSize)
        if let threads { self.threads = max(1, threads) }
        self.verifyChecksums = verifyChecksums
        self.maxBatch = max(1, maxBatch)
        self.maxTokens = max(1, maxTokens)
    }
}

/// Which of the model's weights stay mapped — and so count in the process's RSS — between the
/// phases that use them. Released pages stay in the OS page cache (nothing is read from disk
/// again); they are mapped again ahead of their next use, in parallel (`MADV_POPULATE_READ`).
public enum WeightResidency: String, Sendable, CaseIterable {
    /// Every weight stays mapped: nothing is re-mapped (fastest for many images); peak RSS is
    /// the whole file. The file is mapped with `MAP_POPULATE` when `prefault` is set.
    case all
    /// The image encoder's weights, read once per image, are streamed: mapped in stages of
    /// about `LoadOptions.encoderStageBytes` as it runs, each released once its last node is
    /// done. The mapper's and the decoder's stay mapped. Peak RSS is the mapper's and decoder's
    /// weights plus about one encoder stage, for re-mapping the encoder every image.
    case perImage = "per-image"
    /// Every phase's weights are released after it, the decoder's after decoding too, and the
    /// encoder's are streamed as with `.perImage`: peak RSS follows the largest phase, for
    /// re-mapping every weight every caption (`--low-memory`).
    case perPhase = "per-phase"
}

/// How captions are chosen from the decoder's next-token distributions.
public enum DecodingStrategy: Sendable, Equatable {
    /// The most likely token at every step.
    case greedy
    /// Beam search with this many beams, scored like Hugging Face's (sum of log-probabilities
    /// divided by length^lengthPenalty).
    case beam(width: Int)
    /// Sampling with temperature, top-k and top-p.
    case sample
}

/// Decoding options for one image.
public struct DecodingOptions: Sendable {
    public var strategy: DecodingStrategy = .greedy
    /// Candidates to return (samples drawn in one batch, or the best beams).
    public var numCandidates: Int = 1
    /// 0 disables top-k.
    public var topK: Int = 0
    /// 1 disables top-p (nucleus) filtering.
    public var topP: Double = 1.0
    public var temperature: Double = 1.0
    /// Seed for sampling; the same seed gives the same captions.
    public var seed: UInt64 = 0
    /// Most tokens per caption (the stop token not counted).
    public var maxTokens: Int = 30
    /// Stop tokens are banned until a caption has this many tokens (as Hugging Face's
    /// `min_new_tokens`); benchmarks use it to decode a fixed number of tokens.
    public var minTokens: Int = 0
    /// Beam search length penalty exponent.
    public var lengthPenalty: Double = 1.0
    /// Keep pixels, embeddings and the raw logits of candidate 0 at each step in the result
    /// (for `--dump`), with every strategy.
    public var captureIntermediates: Bool = false

    public init(strategy: DecodingStrategy = .greedy, numCandidates: Int = 1, topK: Int = 0, topP: Double = 1.0,
                temperature: Double = 1.0, seed: UInt64 = 0, maxTokens: Int = 30, lengthPenalty: Double = 1.0,
                captureIntermediates: Bool = false) {
        self.strategy = strategy
        self.numCandidates = numCandidates
        self.topK = topK
        self.topP = topP
        self.temperature = temperature
        self.seed = seed
        self.maxTokens = maxTokens
        self.lengthPenalty = lengthPenalty
        self.captureIntermediates = captureIntermediates
    }
}

/// One generated caption.
public struct Caption: Sendable, Equatable {
    public var text: String
    /// Generated token ids, the stop token excluded.
    public var tokenIDs: [Int]
    /// Sum of log-probabilities (greedy, sampling) or the length-normalised beam score.
    public var score: Double
}

/// Wall time of each phase, in milliseconds.
public struct PhaseTimings: Sendable, Equatable {
    public var decodeImage = 0.0
    public var preprocess = 0.0
    public var imageEncoder = 0.0
    public var mapper = 0.0
    public var prefill = 0.0
    public var decode = 0.0
    public var decodeSteps = 0
    public var total = 0.0
    /// Milliseconds per generated token position in the decode loop.
    public var msPerToken: Double { decodeSteps > 0 ? decode / Double(decodeSteps) : 0 }
}

/// Tensors captured on the way, for comparing with PyTorch.
public struct Intermediates: Sendable {
    public var pixelValues: [Float]          // [1, 3, S, S]
    public var imageSize: Int
    public var imageEmbedding: [Float]       // [1, E]
    public var prefixEmbeddings: [Float]     // [1, P, D]
    public var prefixLength: Int
    /// Raw next-token logits of candidate 0 at each step, before bans or temperature: [steps][V].
    /// Candidate 0 is the only row for greedy, the first sample for sampling, and for beam
    /// search the beam ranked first at that step.
    public var logits: [[Float]]
}

/// Everything one captioned image produced.
public struct CaptionResult: Sendable {
    public var captions: [Caption]
    public var timings: PhaseTimings
    public var intermediates: Intermediates?
    /// Things about the input worth telling the user although it captioned (e.g. a 16-bit
    /// grayscale PNG that decodes almost white; `ImageWarnings`), one line each.
    public var warnings: [String] = []
}

/// What `CaptionModel.teacherForcedLogits` returns.
public struct ForcedRun: Sendable {
    public var imageEmbedding: [Float]
    public var prefixEmbeddings: [Float]
    /// Raw logits: row 0 after the prefix, row i after forced token i-1.
    public var logits: [[Float]]
}
