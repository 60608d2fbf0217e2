import CCMFormat

/// Hostile model files whose every checksum is valid: a good file's metadata, graphs and
/// tensors, edited, then written again by `ModelWriter` — so only the engine's validation at
/// load can refuse them (docs/ENGINE.md, "Validation at load").
public enum CraftedModel {
    /// Writes `source` with its metadata and graphs changed by `edit` to `path`; returns `path`.
    @discardableResult
    public static func write(from source: String, to path: String,
                             _ edit: (inout Metadata, inout [ComputeGraph]) -> Void) throws -> String {
        let file = try ModelFile.open(path: source)
        var metadata = file.metadata
        var graphs = file.graphs
        edit(&metadata, &graphs)
        var writer = ModelWriter(metadata: metadata, graphs: graphs, tokenizer: file.tokenizer)
        for entry in file.tensors {
            let bytes = Array(try file.bytes(of: entry))
            writer.add(TensorSource(name: entry.name, dtype: entry.dtype, shape: entry.shape, quantization: entry.quantization, bytes: bytes))
        }
        try writer.write(to: path)
        return path
    }
}
