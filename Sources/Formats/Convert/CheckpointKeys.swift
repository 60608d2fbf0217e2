import Foundation

/// Facts about a checkpoint's key names that help read it or explain why it cannot be read.
enum CheckpointKeys {
    /// DistributedDataParallel (and DataParallel) save `model.state_dict()` with every key
    /// under `module.`: the same weights, one level down. When every key has the prefix it is
    /// dropped, so such a checkpoint converts like the plain one.
    static func unwrappingDataParallel(_ tensors: [InputTensor]) -> [InputTensor] {
        let prefix = "module."
        guard !tensors.isEmpty, tensors.allSatisfy({ $0.name.hasPrefix(prefix) }) else { return tensors }
        return tensors.map { t in
            InputTensor(name: String(t.name.dropFirst(prefix.count)), dtype: t.dtype, shape: t.shape, load: t.load)
        }
    }

    /// Whether the keys are a CLIP model's (OpenAI `visual.*` or Hugging Face `vision_model.*`).
    static func looksLikeCLIP(_ ws: WeightSet) -> Bool {
        ws.has("visual.conv1.weight") || !ws.names(withPrefix: "vision_model.").isEmpty
    }

    /// Whether the keys are a ClipCap checkpoint's (a `clip_project.*` mapper).
    static func looksLikeClipCap(_ ws: WeightSet) -> Bool {
        !ws.names(withPrefix: "clip_project.").isEmpty
    }

    /// The first components of the key names with their counts, most frequent first, e.g.
    /// `visual.* (150), transformer.* (146), 2 more`: what a file holds, in one line.
    static func summary(_ ws: WeightSet, limit: Int = 6) -> String {
        guard !ws.names.isEmpty else { return "no tensors at all" }
        var counts: [String: Int] = [:]
        for name in ws.names {
            let head = name.split(separator: ".", maxSplits: 1).first.map(String.init) ?? name
            counts[head == name ? name : head + ".*", default: 0] += 1
        }
        let sorted = counts.sorted { $0.value == $1.value ? $0.key < $1.key : $0.value > $1.value }
        var parts = sorted.prefix(limit).map { "\($0.key) (\($0.value))" }
        if sorted.count > limit { parts.append("\(sorted.count - limit) more") }
        return parts.joined(separator: ", ")
    }
}
