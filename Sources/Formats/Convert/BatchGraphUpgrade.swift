import CCMFormat
import Ops
import Foundation

/// Why a model file's decoder graph cannot be given per-row inputs.
public struct BatchGraphUpgradeError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Gives a decoder graph written before per-row batching its per-row inputs, from the file's
/// own tensors (`clipcapctl upgrade`, docs/FORMAT.md "Graph versions"): the graph then takes
/// `position_ids` i32 `[B, T]` and `past_lengths` i32 `[B]`, so the engine can run rows of
/// captions started at different times together (continuous batching). The rewrite is
/// operator-level, never architecture-level:
///
/// - a `slice` of a model tensor on axis 0 from `$n_past` of length `$T` (the position table
///   read at the run's position) becomes `gather(table, position_ids)`: the same rows, per row;
/// - every `attention_cached` takes `past_lengths` as its sixth input.
///
/// Any other use of `$n_past` means the graph depends on one shared position in a way this
/// cannot rewrite: the file is refused. The result is checked with `GraphValidator`; the
/// numbers are unchanged (the same tensors, the same products), so captions are identical.
public enum BatchGraphUpgrade {
    /// What `upgrade` did.
    public struct Report: Sendable {
        public var positionTables: [String]
        public var attentionNodes: Int
        /// False when the file already had per-row inputs (then nothing is written).
        public var changed: Bool
    }

    /// The decoder graph with per-row inputs; nil when it already has them.
    public static func perRowDecoder(_ graph: ComputeGraph, path: String) throws -> (ComputeGraph, Report)? {
        let names = Set(graph.inputs.map(\.name))
        if names.contains("past_lengths") { return nil }
        guard graph.inputs.count == 1, let embeds = graph.inputs.first, embeds.shape.count == 3,
              embeds.shape[0] == .symbol("B"), embeds.shape[1] == .symbol("T") else {
            throw BatchGraphUpgradeError(path: path, reason: "graph 'decoder' does not take one input [B, T, D]; nothing to upgrade")
        }
        let defined = Set(graph.inputs.map(\.name) + graph.states.map(\.name) + graph.nodes.flatMap(\.outputs))
        var nodes: [GraphNode] = []
        var tables: [String] = []
        var attention = 0
        for var node in graph.nodes {
            let usesNPast = node.attrs.values.contains { $0 == .symbol("n_past") }
            if node.op == "slice", usesNPast, node.inputs.count == 1, !defined.contains(node.inputs[0]),
               node.attrs["axis"] == .int(0), node.attrs["start"] == .symbol("n_past"),
               node.attrs["length"] == .symbol("T"), node.attrs["end"] == nil {
                tables.append(node.inputs[0])
                node = GraphNode(name: node.name, op: "gather", inputs: [node.inputs[0], "position_ids"], outputs: node.outputs)
            } else if usesNPast {
                throw BatchGraphUpgradeError(path: path, reason: "graph 'decoder', node '\(node.name)' (\(node.op)) reads $n_past in a way that has no per-row form; re-convert the model with `clipcapctl convert`")
            } else if node.op == "attention_cached" {
                guard node.inputs.count == 5 else {
                    throw BatchGraphUpgradeError(path: path, reason: "graph 'decoder', node '\(node.name)': attention_cached has \(node.inputs.count) inputs, expected 5")
                }
                node.inputs.append("past_lengths")
                attention += 1
            }
            nodes.append(node)
        }
        guard !tables.isEmpty || attention > 0 else {
            throw BatchGraphUpgradeError(path: path, reason: "graph 'decoder' has no position slice and no attention_cached: it has no cache to batch")
        }
        let inputs = graph.inputs + [
            ValueSpec(name: "position_ids", dtype: .i32, shape: [.symbol("B"), .symbol("T")]),
            ValueSpec(name: "past_lengths", dtype: .i32, shape: [.symbol("B")]),
        ]
        let upgraded = ComputeGraph(name: graph.name, inputs: inputs, outputs: graph.outputs, states: graph.states, nodes: nodes)
        return (upgraded, Report(positionTables: tables, attentionNodes: attention, changed: true))
    }

    /// Writes `output`: `input` with its decoder graph upgraded, every tensor, the tokenizer and
    /// the metadata copied as they are (atomically: a temporary file, then a rename).
    public static func upgrade(input: String, output: String, progress: ((Int, Int) -> Void)? = nil) throws -> Report {
        let inputURL = URL(fileURLWithPath: input).standardizedFileURL.resolvingSymlinksInPath()
        let outputURL = URL(fileURLWithPath: output).standardizedFileURL.resolvingSymlinksInPath()
        guard inputURL.path != outputURL.path, !FileIdentity.sameFile(input, output) else {
            throw BatchGraphUpgradeError(path: output, reason: "is the input file; write the upgraded model to another path")
        }
        let file = try ModelFile.open(path: input)
        guard let index = file.graphs.firstIndex(where: { $0.name == "decoder" }) else {
            throw BatchGraphUpgradeError(path: input, reason: "has no 'decoder' graph")
        }
        guard let (decoder, report) = try perRowDecoder(file.graphs[index], path: input) else {
            return Report(positionTables: [], attentionNodes: 0, changed: false)
        }
        var shapes: [String: (DType, [Int])] = [:]
        for entry in file.tensors { shapes[entry.name] = (entry.dtype, entry.shape) }
        do {
            try GraphValidator.validate(decoder, tensors: shapes)
        } catch {
            throw BatchGraphUpgradeError(path: input, reason: "the upgraded decoder graph does not validate (\(error)); re-convert the model with `clipcapctl convert`")
        }
        var graphs = file.graphs
        graphs[index] = decoder
        var writer = ModelWriter(metadata: file.metadata, graphs: graphs, tokenizer: file.tokenizer)
        for entry in file.tensors {
            writer.add(TensorSource(name: entry.name, dtype: entry.dtype, shape: entry.shape, layout: entry.layout,
                                    encoding: entry.encoding, quantization: entry.quantization) {
                Array(try file.bytes(of: entry))
            })
        }
        try writer.write(to: output, progress: progress)
        return report
    }
}
