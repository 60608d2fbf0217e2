import CCMFormat
import Tokenizers

/// A model-file error at load time, naming the file.
public struct ModelLoadError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var detail: String
    /// The file named once, even when the detail comes from an error that already names it.
    public var description: String { detail.hasPrefix(file + ": ") ? detail : "\(file): \(detail)" }
}

/// Checks, once at load, that the four graphs fit together and agree with the metadata, so a
/// file whose graphs and metadata disagree is refused instead of producing garbage.
enum PipelineCheck {
    static func validate(file: String, config: PipelineConfig, tokenizer: any TextTokenizer,
                         imageEncoder: CompiledGraph, mapper: CompiledGraph, tokenEmbedding: CompiledGraph,
                         decoder: CompiledGraph) throws {
        func fail(_ detail: String) -> ModelLoadError { ModelLoadError(file: file, detail: detail + "; the file is inconsistent (re-convert it with `clipcapctl convert`)") }
        func io(_ g: CompiledGraph, inputs: Int, outputs: Int) throws {
            guard g.inputs.count == inputs, g.outputNames.count == outputs else {
                throw fail("graph '\(g.name)' has \(g.inputs.count) input(s) and \(g.outputNames.count) output(s), expected \(inputs) and \(outputs)")
            }
        }
        try io(imageEncoder, inputs: 1, outputs: 1)
        try io(mapper, inputs: 1, outputs: 1)
        try io(tokenEmbedding, inputs: 1, outputs: 1)
        try io(decoder, inputs: decoder.inputs.count == 1 ? 1 : 3, outputs: 1)  // DecoderInputs checks the names
        guard imageEncoder.inputs[0].dtype == .f32, tokenEmbedding.inputs[0].dtype == .i32 else {
            throw fail("image_encoder must take f32 pixels and token_embedding i32 ids")
        }
        let pixels = imageEncoder.inputs[0].shape
        // One image ([1, ...]) or a batch ([B, ...]) per run.
        guard pixels.count == 4, pixels[0] == .fixed(1) || pixels[0] == .symbol("B"),
              Array(pixels.dropFirst()) == [.fixed(3), .fixed(config.imageSize), .fixed(config.imageSize)] else {
            throw fail("image_encoder takes \(pixels) but image.size is \(config.imageSize)")
        }
        let embedding = imageEncoder.plannedOutputShapes[0]
        let mapperIn = try MemoryPlanner.resolve(mapper.inputs[0].shape, mapper.plannedSymbols)
        // Batch dimensions may differ (a batched encoder feeding a one-image mapper): the rest may not.
        guard embedding.rank == mapperIn.rank, (1..<embedding.rank).allSatisfy({ embedding[$0] == mapperIn[$0] }) else {
            throw fail("image_encoder produces \(embedding) but mapper takes \(mapperIn)")
        }
        let prefix = mapper.plannedOutputShapes[0]
        guard prefix.rank == 3, prefix[1] == config.prefixLength, prefix[2] == config.hiddenSize else {
            throw fail("mapper produces \(prefix), but clipcap.prefix_length is \(config.prefixLength) and decoder.hidden_size \(config.hiddenSize)")
        }
        let tokens = tokenEmbedding.plannedOutputShapes[0]
        guard tokens.rank == 3, tokens.last == config.hiddenSize else {
            throw fail("token_embedding produces \(tokens), expected [B, T, \(config.hiddenSize)]")
        }
        let logits = decoder.plannedOutputShapes[0]
        guard logits.rank == 2, logits.last == config.vocabSize else {
            throw fail("decoder produces logits \(logits) but decoder.vocab_size is \(config.vocabSize)")
        }
        guard tokenizer.vocabularySize <= config.vocabSize else {
            throw fail("the tokenizer has \(tokenizer.vocabularySize) tokens but decoder.vocab_size is \(config.vocabSize)")
        }
        for id in config.stopTokenIDs.union(config.keptStopTokenIDs).union(config.bannedTokenIDs) where id < 0 || id >= config.vocabSize {
            throw fail("generation.stop_token_ids / kept_stop_token_ids / banned_token_ids contain \(id), outside the vocabulary (\(config.vocabSize))")
        }
    }
}
