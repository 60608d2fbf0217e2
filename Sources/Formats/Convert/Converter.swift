import CCMFormat
import Ops
import Foundation

/// `clipcapctl convert` as a library: PyTorch / Hugging Face checkpoints in, one `.ccm` out.
public enum Converter {
    /// Converts the inputs named in `options` and writes `options.outputPath` atomically.
    /// - Parameter progress: called on the calling thread as the work advances.
    /// - Throws: `ConvertError` naming the file and the problem; no output is left behind.
    public static func convert(_ options: ConvertOptions,
                               progress: ((ConvertProgress) -> Void)? = nil) throws -> ConvertSummary {
        let start = Date()
        let inputs = [options.clipPath, options.checkpointPath, options.gpt2Folder] + (options.bertFolder.map { [$0] } ?? [])
        if let input = FileIdentity.inputOverwritten(by: options.outputPath, inputs: inputs) {
            throw ConvertError.outputIsInput(output: options.outputPath, input: input)
        }
        let plan = try ConversionPlan.make(options, progress: progress)

        var hashes: [(role: String, file: String, sha256: String)] = []
        for (index, input) in plan.inputs.enumerated() {
            progress?(ConvertProgress(phase: .hashing, completed: index, total: plan.inputs.count, detail: input.path))
            hashes.append((input.role, URL(fileURLWithPath: input.path).lastPathComponent, try SHA256.hex(fileAt: input.path)))
        }
        let metadata = ModelMetadata.build(vision: plan.vision, mapper: plan.mapper, gpt2: plan.gpt2,
                                           tokenizer: plan.tokenizer, options: options, sources: hashes)
        var writer = ModelWriter(metadata: metadata, graphs: plan.graphs, tokenizer: plan.tokenizer)
        for tensor in plan.tensors {
            // 1-D tensors are tiny; compressing them gains nothing and costs a decode at load.
            let encoding: TensorEncoding = tensor.shape.count >= 2 ? options.encoding : .raw
            writer.add(TensorSource(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape,
                                    encoding: encoding, provider: { try tensor.bytes() }))
        }
        let detail = URL(fileURLWithPath: options.outputPath).lastPathComponent
        do {
            try writer.write(to: options.outputPath) { done, total in
                progress?(ConvertProgress(phase: .writing, completed: done, total: total, detail: detail))
            }
        } catch let error as ConvertError {
            throw error
        } catch {
            throw ConvertError.writeFailed(path: options.outputPath, reason: String(describing: error))
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: options.outputPath)[.size] as? Int) ?? 0
        return ConvertSummary(
            output: options.outputPath, architecture: metadata["clipcap.architecture"]?.stringValue ?? "",
            mapping: plan.mapper.mapping.rawValue, prefixLength: plan.mapper.prefixLength,
            imageSize: plan.vision.imageSize, vocabSize: plan.gpt2.vocab, tokenizer: plan.tokenizer.kind,
            dtype: options.dtypeName, tiedLMHead: plan.gpt2.tiedHead,
            tensors: plan.tensors.count, parameters: plan.tensors.reduce(0) { $0 + $1.count },
            bytes: size, seconds: Date().timeIntervalSince(start), skipped: plan.skipped,
            graphs: Dictionary(uniqueKeysWithValues: plan.graphs.map { ($0.name, $0.nodes.count) }),
            normalizePrefix: options.normalizePrefix, warnings: plan.warnings)
    }
}

/// Everything decided before writing: graphs, tensors, tokenizer, hyperparameters.
struct ConversionPlan {
    var graphs: [ComputeGraph]
    var tensors: [PlannedTensor]
    var tokenizer: TokenizerSpec
    var vision: VisionHyperparameters
    var mapper: MapperInfo
    var gpt2: GPT2Settings
    var skipped: [String: [String]]
    var inputs: [(role: String, path: String)]
    var warnings: [String]

    static func make(_ options: ConvertOptions, progress: ((ConvertProgress) -> Void)?) throws -> ConversionPlan {
        if let dtype = options.dtype, dtype != .f32 && dtype != .f16 {
            throw ConvertError.invalidOption("--dtype must be auto, f32 or f16, not \(dtype)")
        }
        let fm = FileManager.default
        var inputs: [(role: String, path: String)] = [("clip", options.clipPath), ("checkpoint", options.checkpointPath),
                                                       ("gpt2", options.gpt2Folder)]
        if let bert = options.bertFolder { inputs.append(("bert", bert)) }
        for (role, path) in inputs where !fm.fileExists(atPath: path) {
            throw ConvertError.missingInput(role: role, path: path)
        }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: options.gpt2Folder, isDirectory: &isDir), isDir.boolValue else {
            throw ConvertError.invalidOption("\(options.gpt2Folder): --gpt2 must be a folder holding config.json and the tokenizer files")
        }

        // CLIP
        progress?(ConvertProgress(phase: .reading, completed: 0, total: 3, detail: options.clipPath))
        let (clipWeights, clipConfig, preprocessor) = try readClip(options.clipPath)
        if CheckpointKeys.looksLikeClipCap(clipWeights) && !CheckpointKeys.looksLikeCLIP(clipWeights) {
            throw ConvertError.unknownArchitecture(role: "clip", path: options.clipPath,
                reason: "it holds a ClipCap mapper (clip_project.*), not CLIP's image encoder: --clip and --checkpoint look swapped (keys: \(CheckpointKeys.summary(clipWeights)))")
        }
        let (clipPart, vision) = try ClipVisionConverter.convert(clipWeights, config: clipConfig, preprocessor: preprocessor,
                                                                  matrixType: options.dtype)
        clipWeights.skip { KnownBuffers.isBuffer($0) }
        try clipWeights.check()

        // ClipCap checkpoint: mapper and (usually) GPT-2.
        progress?(ConvertProgress(phase: .reading, completed: 1, total: 3, detail: options.checkpointPath))
        let checkpoint = try CheckpointLoading.read(options.checkpointPath, role: "checkpoint")
        guard let detected = MappingType.detect(checkpoint) else {
            throw ConvertError.unknownArchitecture(role: "checkpoint", path: options.checkpointPath,
                reason: "no mapping network found (expected clip_project.model.0.weight (MLP), clip_project.bert.* (BERT) or clip_project.transformer.* (transformer)); "
                    + "its keys: \(CheckpointKeys.summary(checkpoint))"
                    + (CheckpointKeys.looksLikeCLIP(checkpoint) ? "; it is a CLIP model: --clip and --checkpoint look swapped" : ""))
        }
        var warnings: [String] = []
        if let requested = options.mapping, requested != detected {
            // ClipCap-Chinese's train.py compares a string with an enum when it picks the mapper,
            // so checkpoints trained "as mlp" can hold a BERT mapper: the keys are the truth.
            warnings.append("--mapping \(requested.rawValue) was given, but \(options.checkpointPath) holds \(detected.withArticle) mapper (by its keys): converted as \(detected.rawValue)")
        }

        // GPT-2: from the checkpoint when it has it, else from the --gpt2 folder.
        progress?(ConvertProgress(phase: .reading, completed: 2, total: 3, detail: options.gpt2Folder))
        let gptConfigPath = options.gpt2Folder + "/config.json"
        let gptConfig = try JSONObject.load(gptConfigPath)
        let gptWeights: WeightSet
        let gptPrefix: String
        if let prefix = GPT2Converter.detectPrefix(checkpoint) {
            gptWeights = checkpoint
            gptPrefix = prefix
        } else if CheckpointLoading.folderHasWeights(options.gpt2Folder) {
            gptWeights = try CheckpointLoading.readFolder(options.gpt2Folder, role: "gpt2").0
            guard let prefix = GPT2Converter.detectPrefix(gptWeights) else {
                throw ConvertError.unknownArchitecture(role: "gpt2", path: options.gpt2Folder, reason: "no transformer.wte.weight in the GPT-2 weights")
            }
            gptPrefix = prefix
        } else {
            throw ConvertError.unknownArchitecture(role: "checkpoint", path: options.checkpointPath,
                reason: "it has no GPT-2 weights (gpt2.transformer.*, gpt.transformer.* or transformer.*) and \(options.gpt2Folder) has no model.safetensors / pytorch_model.bin either")
        }
        let (embeddingPart, decoderPart, gpt2) = try GPT2Converter.convert(gptWeights, prefix: gptPrefix, config: gptConfig,
                                                                          configPath: gptConfigPath, matrixType: options.dtype)

        var bert: BertSettings?
        if let folder = options.bertFolder {
            let path = folder + "/config.json"
            let config = try JSONObject.load(path)
            let act = config.string("hidden_act") ?? "gelu"
            guard let heads = config.int("num_attention_heads"), heads > 0, let activation = Activation.opName(forHF: act) else {
                throw ConvertError.badConfig(path: path, reason: "num_attention_heads must be a positive integer and hidden_act one of gelu, gelu_new, relu")
            }
            bert = BertSettings(heads: heads, layerNormEps: config.double("layer_norm_eps") ?? 1e-12,
                                activation: activation, intermediate: config.int("intermediate_size"))
        }
        let (mapperPart, mapper) = try MapperConverter.convert(checkpoint, mapping: detected, embedDim: vision.embedDim,
                                                               hidden: gpt2.hidden, options: options, bert: bert,
                                                               matrixType: options.dtype)
        checkpoint.skip { KnownBuffers.isBuffer($0) }
        try checkpoint.check()
        if gptWeights !== checkpoint { try gptWeights.check() }

        let tokenizer = try TokenizerLoader.load(folder: options.gpt2Folder, config: gptConfig)
        guard tokenizer.vocab.count <= gpt2.vocab else {
            throw ConvertError.tokenizer(path: options.gpt2Folder,
                reason: "the tokenizer has \(tokenizer.vocab.count) tokens but GPT-2's embedding table only \(gpt2.vocab) rows: wrong vocabulary for this model")
        }

        let parts = [clipPart, mapperPart, embeddingPart, decoderPart]
        let tensors = parts.flatMap { $0.tensors }
        var table: [String: (DType, [Int])] = [:]
        for tensor in tensors {
            guard table[tensor.name] == nil else {
                throw ConvertError.invalidGraph(graph: "-", reason: "tensor \(tensor.name) planned twice")
            }
            table[tensor.name] = (tensor.dtype, tensor.shape)
        }
        for part in parts {
            do { try GraphValidator.validate(part.graph, tensors: table) } catch let error as GraphValidationError {
                throw ConvertError.invalidGraph(graph: error.graph, reason: error.description)
            }
        }
        var skipped: [String: [String]] = [:]
        for set in [clipWeights, checkpoint] + (gptWeights === checkpoint ? [] : [gptWeights]) where !set.skipped.isEmpty {
            skipped[set.role] = set.skipped
        }
        return ConversionPlan(graphs: parts.map { $0.graph }, tensors: tensors, tokenizer: tokenizer, vision: vision,
                              mapper: mapper, gpt2: gpt2, skipped: skipped, inputs: inputs, warnings: warnings)
    }

    /// A CLIP input: a Hugging Face folder (config.json, preprocessor_config.json, weights) or one file.
    private static func readClip(_ path: String) throws -> (WeightSet, JSONObject, JSONObject) {
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        if isDir.boolValue {
            let (weights, config) = try CheckpointLoading.readFolder(path, role: "clip")
            let vision = config.object("vision_config") ?? config
            let preprocessor = try JSONObject.load(path + "/preprocessor_config.json", optional: true)
            return (weights, vision, preprocessor)
        }
        return (try CheckpointLoading.read(path, role: "clip"), JSONObject(), JSONObject())
    }
}
