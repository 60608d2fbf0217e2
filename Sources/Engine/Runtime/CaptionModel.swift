import CCMFormat
import Foundation
import ImageIO
import Tokenizers

/// A loaded captioning model: the mapped file, its tokenizer, and its four graphs compiled for
/// one backend. Thread-safe: any number of threads may caption with one model at once (each call
/// borrows its own session: arena, KV cache and scratch).
public final class CaptionModel: Sendable {
    /// The model file's path.
    public let path: String
    /// The opened model file (metadata, tensors, graphs).
    public let file: ModelFile
    /// Pipeline settings read from the metadata.
    public let config: PipelineConfig
    /// The tokenizer stored in the file.
    public let tokenizer: any TextTokenizer
    /// The backend chosen at load.
    public let backend: any Backend
    /// The chosen backend and those it falls back to, in order; each node runs on the first
    /// that supports it (resolved at load).
    public let chain: BackendChain
    /// Load options in force.
    public let options: LoadOptions
    /// What the CRC32C check at load did; nil when it was turned off (`verifyChecksums`).
    public let checksums: ChecksumReport?
    /// KV-cache capacity per candidate (prefix + maxTokens + 1, at most the model's context).
    public let maxContext: Int

    let imageEncoder: CompiledGraph
    let mapper: CompiledGraph
    let tokenEmbedding: CompiledGraph
    let decoder: CompiledGraph
    /// Which of the decoder's inputs carry embeddings, positions and per-row cached lengths.
    let decoderInputs: DecoderInputs
    /// Decoder rows a session plans for (KV-cache slots): `max(maxBatch, batchRows ?? batchSize)`.
    public let decoderRows: Int
    /// The image encoder's weights, mapped stage by stage while it runs and released behind it
    /// (per-image and per-phase residency; nil with `.all`).
    let encoderStages: WeightStages?
    /// The mapper's pages, and the token embedding's and decoder's: per-phase residency maps
    /// them ahead of their phase and releases them after it; per-image maps them once per
    /// session and keeps them. nil with `.all` (the whole file stays mapped).
    let mapperPages: TensorPages?
    let decoderPages: TensorPages?
    private let sessions = SessionPool()

    /// Opens `path`, compiles its graphs for `options.backend` (falling back per node along the
    /// backend's chain, e.g. int8 -> blas -> naive);
    /// `auto` picks `int8` for quantized files where it can run, `blas` otherwise.
    public static func load(path: String, options: LoadOptions = LoadOptions()) throws -> CaptionModel {
        try CaptionModel(path: path, options: options)
    }

    private init(path: String, options: LoadOptions) throws {
        self.path = path
        self.options = options
        var openOptions = OpenOptions()
        openOptions.verifyTensorChecksumsOnFirstUse = options.verifyChecksums
        openOptions.prefault = options.prefault && options.residency == .all
        let file = try ModelFile.open(path: path, options: openOptions)
        self.file = file
        try LoadValidation.validateGraphs(file, path: path)

        let registry = BackendRegistry.shared
        let backendName = options.backend == BackendSelection.automatic
            ? BackendSelection.resolve(for: file, registry: registry) : options.backend
        guard let backend = registry.backend(named: backendName) else {
            throw ExecutorError.unknownBackend(name: backendName, available: [BackendSelection.automatic] + registry.all.map(\.name))
        }
        let availability = backend.availability
        guard availability.available else { throw ExecutorError.backendUnavailable(name: backend.name, reason: availability.reason) }
        let chain = BackendChain.resolve(from: backend, registry: registry)
        for b in chain.backends { b.setThreads(options.threads) }
        self.backend = backend
        self.chain = chain

        let config = try PipelineConfig(metadata: file.metadata, file: path)
        self.config = config
        try LoadValidation.validateMetadata(file, config: config, path: path)
        guard let spec = file.tokenizer else {
            throw ExecutorError.badMetadata(file: path, key: "tokenizer", detail: "section is missing: the model cannot turn tokens into text")
        }
        do {
            self.tokenizer = try TokenizerFactory.make(spec)
        } catch {
            throw ModelLoadError(file: path, detail: "tokenizer section: \(error)")
        }
        maxContext = min(config.maxContext, config.prefixLength + options.maxTokens + 1)

        checksums = options.verifyChecksums
            ? try WeightChecksums.verify(file, threads: options.threads, releaseBehind: options.residency != .all) : nil
        let weights = WeightCache(file: file)
        func compile(_ name: String, _ worst: SymbolBindings) throws -> CompiledGraph {
            guard let g = file.graph(named: name) else { throw ExecutorError.missingGraph(file: path, graph: name) }
            do {
                return try CompiledGraph(graph: g, file: file, weights: weights, chain: chain, worstCase: worst)
            } catch {
                throw ModelLoadError(file: path, detail: "\(error)")
            }
        }
        // Encoder and mapper graphs with a symbolic batch take a whole batch of images per run.
        let images = SymbolBindings(B: options.batchSize, T: 1, nPast: 0, maxCtx: maxContext)
        imageEncoder = try compile("image_encoder", images)
        mapper = try compile("mapper", images)
        let rows = max(options.maxBatch, options.batchRows ?? options.batchSize)
        decoderRows = rows
        tokenEmbedding = try compile("token_embedding", SymbolBindings(B: rows, T: 1, nPast: 0, maxCtx: maxContext))
        decoder = try compile("decoder", SymbolBindings(B: rows, T: config.prefixLength, nPast: 0, maxCtx: maxContext))
        try LoadValidation.checkMemory([imageEncoder, mapper, tokenEmbedding, decoder], path: path, options: options)
        try PipelineCheck.validate(file: path, config: config, tokenizer: tokenizer, imageEncoder: imageEncoder,
                                   mapper: mapper, tokenEmbedding: tokenEmbedding, decoder: decoder)
        decoderInputs = try DecoderInputs(graph: decoder, file: path)
        if options.residency == .all {
            encoderStages = nil
            mapperPages = nil
            decoderPages = nil
        } else {
            // A page shared by two phases' tensors belongs to neither set (`keeping`), so
            // releasing one phase never unmaps what another is about to read.
            let encoder = imageEncoder.weightNames, mapping = mapper.weightNames
            let back = tokenEmbedding.weightNames.union(decoder.weightNames)
            encoderStages = WeightStages(graph: imageEncoder, file: file, stageBytes: options.encoderStageBytes,
                                         keeping: mapping.union(back))
            mapperPages = file.pages(ofTensors: mapping, keeping: encoder.union(back))
            decoderPages = file.pages(ofTensors: back, keeping: encoder.union(mapping))
        }
    }

    /// Nodes that run on a later backend of the chain because the chosen one lacks them.
    public var fallbacks: [(graph: String, node: String, op: String, backend: String)] {
        [imageEncoder, mapper, tokenEmbedding, decoder].flatMap { g in g.fallbacks.map { (g.name, $0.node, $0.op, $0.backend) } }
    }

    /// How much of the work falls through to the reference backend (`fallbackWarning` words it).
    public var fallbackShare: FallbackShare {
        FallbackShare.measure([imageEncoder, mapper, tokenEmbedding, decoder], file: file)
    }

    /// One line for stderr when more than a trivial share of the work falls back to a slower
    /// backend (e.g. a quantized file on `blas`: every `linear_i8` on `naive`); nil otherwise.
    public var fallbackWarning: String? {
        let share = fallbackShare
        guard share.isSignificant, let slower = chain.backends.last?.name else { return nil }
        let faster = chain.names.dropLast()
        let fasterNames = faster.count == 1 ? "'\(faster[0])'" : "the chain " + faster.joined(separator: " -> ")
        let advice = BackendSelection.isQuantized(file) && backend.name != "int8" ? "run it with --backend int8 (or auto)" : "pick a backend that implements them (`clipcapctl backends`)"
        return "warning: \(path): \(Int((100 * share.weightBytes).rounded()))% of the weights (\(Int((100 * share.nodes).rounded()))% of the nodes) "
            + "run on the slower '\(slower)' backend because \(fasterNames) lacks \(share.ops.prefix(3).joined(separator: ", ")); \(advice)"
    }

    /// Which backend runs each op, and how many nodes: `[(graph, op, backend, fallback, count)]`,
    /// per graph in node order (`fallback`: a backend after the chosen one runs them).
    public var kernelAssignment: [(graph: String, op: String, backend: String, fallback: Bool, count: Int)] {
        var out: [(String, String, String, Bool, Int)] = []
        for g in [imageEncoder, mapper, tokenEmbedding, decoder] {
            var counts: [String: (String, Bool, Int)] = [:]
            var order: [String] = []
            for n in g.nodes {
                let key = n.node.op + "|" + n.backendName
                if counts[key] == nil { order.append(key); counts[key] = (n.backendName, n.isFallback, 0) }
                counts[key]!.2 += 1
            }
            for key in order {
                let op = String(key.split(separator: "|")[0])
                out.append((g.name, op, counts[key]!.0, counts[key]!.1, counts[key]!.2))
            }
        }
        return out
    }

    /// Captions the image file at `imagePath`.
    public func caption(imageAt imagePath: String, options: DecodingOptions = DecodingOptions(), profiler: Profiler? = nil) throws -> CaptionResult {
        let start = DispatchTime.now().uptimeNanoseconds
        let t = profiler?.beginPhase("image_decode")
        let (image, warnings) = try ImageDecoder.decodeWithWarnings(path: imagePath, limits: self.options.imageLimits)
        if let t { profiler?.endPhase("image_decode", start: t) }
        let decoded = DispatchTime.now().uptimeNanoseconds
        var result = try caption(image: image, options: options, profiler: profiler)
        result.warnings = warnings
        result.timings.decodeImage = Double(decoded - start) / 1e6
        result.timings.total += result.timings.decodeImage
        return result
    }

    /// Captions an encoded image (JPEG or PNG bytes).
    public func caption(encodedImage: [UInt8], name: String = "<memory>", options: DecodingOptions = DecodingOptions(), profiler: Profiler? = nil) throws -> CaptionResult {
        let start = DispatchTime.now().uptimeNanoseconds
        let (image, warnings) = try ImageDecoder.decodeWithWarnings(data: encodedImage, name: name, limits: self.options.imageLimits)
        let decoded = DispatchTime.now().uptimeNanoseconds
        var result = try caption(image: image, options: options, profiler: profiler)
        result.warnings = warnings
        result.timings.decodeImage = Double(decoded - start) / 1e6
        result.timings.total += result.timings.decodeImage
        return result
    }

    /// Runs the model on `image` while forcing the decoder to read `tokens` (teacher forcing), and
    /// returns the image embedding, the prefix and the raw logits at every position: for comparing
    /// two models (e.g. float and int8) along the same token path.
    public func teacherForcedLogits(image: RGBImage, tokens: [Int]) throws -> ForcedRun {
        let session = try sessions.take { try CaptionSession(model: self) }
        defer { sessions.give(session) }
        return try session.teacherForced(image: image, tokens: tokens)
    }

    /// Captions an RGB pixel buffer.
    public func caption(image: RGBImage, options: DecodingOptions = DecodingOptions(), profiler: Profiler? = nil) throws -> CaptionResult {
        try withSession { try $0.caption(image: image, options: options, profiler: profiler) }
    }

    /// Whether rows of captions started at different times can share a decoder run (the
    /// decoder graph takes per-row positions and cached lengths); else batches run in lockstep.
    public var continuousBatching: Bool { decoderInputs.perRow }

    /// Runs `body` with a session borrowed from the pool.
    func withSession<R>(_ body: (CaptionSession) throws -> R) throws -> R {
        let session = try sessions.take { try CaptionSession(model: self) }
        defer { sessions.give(session) }
        return try body(session)
    }
}

/// Sessions are expensive to build (arenas, KV cache) and cheap to reuse.
final class SessionPool: @unchecked Sendable {
    private var idle: [CaptionSession] = []
    private let lock = NSLock()

    func take(_ make: () throws -> CaptionSession) throws -> CaptionSession {
        lock.lock()
        if let s = idle.popLast() { lock.unlock(); return s }
        lock.unlock()
        return try make()
    }

    func give(_ s: CaptionSession) {
        lock.lock(); defer { lock.unlock() }
        idle.append(s)
    }
}

/// Builds the runtime tokenizer from the file's tokenizer section.
enum TokenizerFactory {
    static func make(_ spec: TokenizerSpec) throws -> any TextTokenizer {
        switch spec.kind {
        case "wordpiece":
            return try WordPieceTokenizer(vocabulary: spec.vocab,
                                          doLowerCase: spec.options["do_lower_case"]?.boolValue ?? true)
        case "bpe":
            return try ByteLevelBPETokenizer(vocabulary: spec.vocab, merges: spec.merges)
        default:
            throw ExecutorError.badMetadata(file: "-", key: "tokenizer.kind", detail: "'\(spec.kind)' is not a known tokenizer (wordpiece, bpe)")
        }
    }
}
