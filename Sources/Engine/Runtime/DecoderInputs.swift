import CCMFormat

/// How the decoder graph is fed (docs/OPS.md, "The decoder's inputs"): `inputs_embeds`
/// `[B, T, D]` always; graphs written by this version also take `position_ids` i32 `[B, T]` and
/// `past_lengths` i32 `[B]`, so every row has its own position and cached length (continuous
/// batching: a caption's prefill joins rows that are mid-caption). Older graphs read the run's
/// `n_past` for every row, so their rows must all hold the same number of positions (lockstep).
struct DecoderInputs: Sendable {
    let embeds: Int
    let positions: Int?
    let pastLengths: Int?

    /// Whether rows may hold different numbers of positions in one run.
    var perRow: Bool { pastLengths != nil }

    init(graph: CompiledGraph, file: String) throws {
        func index(_ name: String) -> Int? { graph.inputs.firstIndex { $0.name == name } }
        func fail(_ detail: String) -> ModelLoadError {
            ModelLoadError(file: file, detail: "graph 'decoder': \(detail); re-convert the model with `clipcapctl convert`")
        }
        embeds = index("inputs_embeds") ?? 0
        positions = index("position_ids")
        pastLengths = index("past_lengths")
        guard graph.inputs[embeds].dtype == .f32, graph.inputs[embeds].shape.count == 3 else {
            throw fail("input '\(graph.inputs[embeds].name)' must be f32 [B, T, D]")
        }
        if let p = positions {
            guard graph.inputs[p].dtype == .i32, graph.inputs[p].shape == [.symbol("B"), .symbol("T")] else {
                throw fail("input 'position_ids' must be i32 [B, T], is \(graph.inputs[p].dtype) \(graph.inputs[p].shape)")
            }
        }
        if let l = pastLengths {
            guard graph.inputs[l].dtype == .i32, graph.inputs[l].shape == [.symbol("B")] else {
                throw fail("input 'past_lengths' must be i32 [B], is \(graph.inputs[l].dtype) \(graph.inputs[l].shape)")
            }
        }
        let known = [embeds, positions, pastLengths].compactMap { $0 }
        if let extra = graph.inputs.indices.first(where: { !known.contains($0) }) {
            throw fail("unknown input '\(graph.inputs[extra].name)' (known: inputs_embeds, position_ids, past_lengths)")
        }
    }
}
