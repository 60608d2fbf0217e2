import CCMFormat
import Foundation
import Ops

/// The checks a model file passes where it enters the engine, before any graph is planned or
/// any buffer allocated (docs/ENGINE.md, "Validation at load"): every graph against the op
/// table (the converter's validator: one set of rules on both sides), the metadata against
/// the graphs, and the worst-case memory of a session against the machine. A file that fails
/// gets an error naming the file, the graph, the node and the fix, never a trap.
enum LoadValidation {
    static let reconvert = "re-convert it with `clipcapctl convert`"

    /// Every graph of `file`, including ones the pipeline does not run.
    static func validateGraphs(_ file: ModelFile, path: String) throws {
        do {
            try GraphValidator.validate(file)
        } catch let error as GraphValidationError {
            throw ModelLoadError(file: path, detail: "\(error); the file's graphs are not runnable (\(reconvert), or use a clipcapctl that knows its operators: docs/OPS.md)")
        }
    }

    /// Metadata that the graphs contradict: preprocessing constants, layer and head counts
    /// against the decoder's attention nodes and KV-cache states, the hidden size against the
    /// decoder's input.
    static func validateMetadata(_ file: ModelFile, config: PipelineConfig, path: String) throws {
        func fail(_ key: String, _ detail: String) -> ExecutorError {
            .badMetadata(file: path, key: key, detail: detail + "; \(reconvert)")
        }
        guard config.mean.allSatisfy(\.isFinite) else { throw fail("image.mean", "is \(config.mean): every value must be a finite number") }
        guard config.std.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw fail("image.std", "is \(config.std): every value must be a finite positive number") }
        guard let decoder = file.graph(named: "decoder") else { return }
        let attention = decoder.nodes.filter { $0.op == "attention_cached" }
        if let layers = file.metadata["decoder.layers"] {
            guard let n = layers.intValue, n == attention.count else {
                throw fail("decoder.layers", "is \(layers) but the decoder graph has \(attention.count) attention layer(s)")
            }
        }
        // Each cached attention layer reads its own key and value cache; the session sizes
        // and reorders exactly those states.
        let cacheInputs = attention.flatMap { $0.inputs.dropFirst(3).prefix(2) }   // k_cache, v_cache
        guard Set(cacheInputs).count == cacheInputs.count, Set(cacheInputs) == Set(decoder.states.map(\.name)) else {
            throw ModelLoadError(file: path, detail: "graph 'decoder': its \(decoder.states.count) state(s) are not one key and one value cache per attention layer (\(attention.count) layer(s)); \(reconvert)")
        }
        if let heads = file.metadata["decoder.heads"] {
            for node in attention {
                guard case .int(let h)? = node.attrs["heads"], let n = heads.intValue, Int(h) == n else {
                    throw fail("decoder.heads", "is \(heads) but node '\(node.name)' of the decoder graph has \(node.attrs["heads"].map { "\($0)" } ?? "no") heads")
                }
            }
        }
        if let input = decoder.inputs.first, case .fixed(let width)? = input.shape.last, width != config.hiddenSize {
            throw fail("decoder.hidden_size", "is \(config.hiddenSize) but the decoder graph takes '\(input.name)' of width \(width)")
        }
    }

    /// The memory one session reserves (every graph's arena and the KV caches at their
    /// worst case), with overflow checks, must fit the machine: a file cannot make the engine
    /// ask for more than its model needs at these options.
    static func checkMemory(_ graphs: [CompiledGraph], path: String, options: LoadOptions) throws {
        var total = 0
        for g in graphs {
            total = total.addingReportingOverflow(g.arenaBytes).overflow ? .max : total + g.arenaBytes
            for spec in g.states {
                let shape = try MemoryPlanner.resolve(spec.shape, g.plannedSymbols)
                guard let n = shape.checkedElementCount, let bytes = ByteCount.aligned(n, elementSize: spec.dtype.size, to: 64),
                      !total.addingReportingOverflow(bytes).overflow else { total = .max; break }
                total += bytes
            }
        }
        let physical = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        guard total <= physical else {
            throw ModelLoadError(file: path, detail: "a session would need \(total == .max ? "more than any machine has" : "\(total >> 20) MiB") for activations and KV caches (--max-batch \(options.maxBatch), --max-tokens \(options.maxTokens)), more than this machine's \(physical >> 20) MiB; lower those options or \(reconvert)")
        }
    }
}
