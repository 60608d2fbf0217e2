/// Container format of a checkpoint.
public enum CheckpointKind: String, Sendable, Equatable, CustomStringConvertible {
    /// `torch.save` zip archive (torch >= 1.6), including Hugging Face `pytorch_model.bin`.
    case torchZip
    /// `torch.jit.save` archive (e.g. OpenAI's `ViT-B-32.pt`).
    case torchScript
    /// Hugging Face safetensors.
    case safetensors

    public var description: String { rawValue }
}

/// The tensors of one checkpoint (or of all shards of a sharded one).
public struct CheckpointContents: Sendable {
    /// The file read (for a sharded model, its index file).
    public let path: String
    public let kind: CheckpointKind
    /// Tensors in file order (pickle order for torch files, data-offset order for safetensors).
    public let tensors: [SourceTensor]
    /// The same tensors by name.
    public var byName: [String: SourceTensor]
    /// What the reader skipped or converted (e.g. "skipped 12 non-tensor entries").
    public let notes: [String]
    /// safetensors `__metadata__` (empty for torch files).
    public let metadata: [String: String]

    init(path: String, kind: CheckpointKind, tensors: [SourceTensor], notes: [String],
         metadata: [String: String] = [:]) {
        self.path = path
        self.kind = kind
        self.tensors = tensors
        self.notes = notes
        self.metadata = metadata
        var byName: [String: SourceTensor] = [:]
        for tensor in tensors where byName[tensor.name] == nil { byName[tensor.name] = tensor }
        self.byName = byName
    }
}
