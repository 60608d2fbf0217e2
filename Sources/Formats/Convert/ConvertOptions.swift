import CCMFormat

/// What to convert and how (`clipcapctl convert`).
public struct ConvertOptions: Sendable {
    /// OpenAI CLIP checkpoint (TorchScript `ViT-B-32.pt` or a state dict `.pt`), a Hugging Face
    /// `CLIPVisionModelWithProjection` folder, or a `.safetensors` file.
    public var clipPath: String
    /// The ClipCap checkpoint (`torch.save(model.state_dict())` or `.safetensors`).
    public var checkpointPath: String
    /// GPT-2 folder: `config.json` and tokenizer files (and the weights when the checkpoint has none).
    public var gpt2Folder: String
    /// BERT folder with `config.json`, for the ClipCap-Chinese BERT mapper.
    public var bertFolder: String?
    /// The mapping network; detected from the checkpoint keys when `nil`.
    public var mapping: MappingType?
    /// Expected number of prefix vectors; checked against the weights when given.
    public var prefixLength: Int?
    /// Expected number of constant (BERT) / projected (transformer) vectors; checked when given.
    public var constantLength: Int?
    /// L2-normalise the CLIP embedding before the mapper (ClipCap's `--normalize_prefix`).
    public var normalizePrefix: Bool
    /// Text that ends a caption when a generated token contains it (`generation.stop_strings`).
    /// Empty by default: captions stop on token ids, as ClipCap's `predict.py` does (the id of
    /// `.` for byte-level BPE vocabularies), so a BPE token such as `('./` does not end one.
    public var stopStrings: [String] = []
    /// Heads of the original ClipCap transformer mapper (8 in ClipCap's code; not in the weights).
    public var mapperHeads: Int?
    /// Stored type of matrices (`linear` weights and embedding tables): `f32` or `f16`; `nil`
    /// keeps each matrix's source precision (`f16` where the checkpoint stores `f16`, as OpenAI's
    /// CLIP does, so nothing is rounded and nothing is widened; `f32` otherwise).
    public var dtype: DType?
    /// `dtype` as the summary and the metadata write it: `f32`, `f16` or `auto`.
    public var dtypeName: String { dtype?.description ?? "auto" }
    /// Tensor encoding in the output file: `.raw` or `.shuffledZstd`.
    public var encoding: TensorEncoding
    /// The `.ccm` file to write (atomically).
    public var outputPath: String

    public init(clipPath: String, checkpointPath: String, gpt2Folder: String, bertFolder: String? = nil,
                mapping: MappingType? = nil, prefixLength: Int? = nil, constantLength: Int? = nil,
                normalizePrefix: Bool = false, mapperHeads: Int? = nil, dtype: DType? = .f32,
                encoding: TensorEncoding = .raw, outputPath: String) {
        self.clipPath = clipPath
        self.checkpointPath = checkpointPath
        self.gpt2Folder = gpt2Folder
        self.bertFolder = bertFolder
        self.mapping = mapping
        self.prefixLength = prefixLength
        self.constantLength = constantLength
        self.normalizePrefix = normalizePrefix
        self.mapperHeads = mapperHeads
        self.dtype = dtype
        self.encoding = encoding
        self.outputPath = outputPath
    }
}

/// Progress of a conversion, for a progress line on a terminal.
public struct ConvertProgress: Sendable, Equatable {
    public enum Phase: String, Sendable {
        case reading, hashing, writing
    }
    public var phase: Phase
    public var completed: Int
    public var total: Int
    /// What is being processed (a file name).
    public var detail: String
}

/// What a conversion produced (printed by the CLI; `--json` prints it as JSON).
public struct ConvertSummary: Sendable, Codable, Equatable {
    public var output: String
    public var architecture: String
    public var mapping: String
    public var prefixLength: Int
    public var imageSize: Int
    public var vocabSize: Int
    public var tokenizer: String
    public var dtype: String
    public var tiedLMHead: Bool
    /// Tensors and their element count (parameters) in the output file.
    public var tensors: Int
    public var parameters: Int
    /// Size of the written file.
    public var bytes: Int
    public var seconds: Double
    /// Source keys deliberately not converted, by input role (buffers, CLIP text tower, unused BERT parts).
    public var skipped: [String: [String]]
    /// Graph names and node counts.
    public var graphs: [String: Int]
    /// Whether the CLIP embedding is L2-normalised before the mapper (`--normalize-prefix`).
    public var normalizePrefix: Bool = false
    /// Things the user should know that did not stop the conversion (e.g. a `--mapping` that
    /// disagrees with the checkpoint's keys).
    public var warnings: [String] = []
}
