import CCMFormat

/// One tensor of an input checkpoint as the converter sees it: name, element type, shape and
/// a way to read its bytes (row-major, little-endian) when the writer gets to it.
public struct InputTensor: Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// Reads the tensor's bytes; called once, while the output is written.
    public var load: @Sendable () throws -> [UInt8]

    public init(name: String, dtype: DType, shape: [Int], load: @escaping @Sendable () throws -> [UInt8]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.load = load
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
}

/// The tensors of one input file, with bookkeeping for a strict key check like
/// `load_state_dict(strict=True)`: every tensor must be used by the architecture or be a
/// known, deliberately skipped non-parameter; every tensor the architecture needs must be
/// present with the right shape.
final class WeightSet {
    /// Role of the file on the command line (`clip`, `checkpoint`, `gpt2`).
    let role: String
    let path: String
    private let tensors: [String: InputTensor]
    /// Names in file order, for stable messages.
    let names: [String]
    private var consumed: Set<String> = []
    private(set) var skipped: [String] = []
    private var missing: [String] = []
    private var mismatches: [ShapeMismatch] = []
    /// Needed tensors whose element type is not a float type (name, dtype).
    private var wrongTypes: [(String, DType)] = []

    init(role: String, path: String, tensors: [InputTensor]) {
        self.role = role
        self.path = path
        var table: [String: InputTensor] = [:]
        for tensor in tensors where table[tensor.name] == nil { table[tensor.name] = tensor }
        self.tensors = table
        self.names = tensors.map(\.name)
    }

    /// Whether the file has a tensor of this name (does not mark it used).
    func has(_ name: String) -> Bool { tensors[name] != nil }

    /// The shape of a tensor, without marking it used (for size detection).
    func shape(_ name: String) -> [Int]? { tensors[name]?.shape }

    /// Names that start with `prefix`.
    func names(withPrefix prefix: String) -> [String] { names.filter { $0.hasPrefix(prefix) } }

    /// Takes a tensor the architecture needs; records a missing key or a shape mismatch.
    /// `shape` entries of -1 accept any size in that dimension (checked elsewhere).
    func require(_ name: String, shape: [Int]) -> InputTensor? {
        guard let tensor = tensors[name] else {
            missing.append(name)
            return nil
        }
        consumed.insert(name)
        guard Self.matches(tensor.shape, shape) else {
            mismatches.append(ShapeMismatch(name: name, expected: shape, actual: tensor.shape))
            return nil
        }
        guard [.f32, .f16, .bf16].contains(tensor.dtype) else {
            wrongTypes.append((name, tensor.dtype))
            return nil
        }
        return tensor
    }

    /// Takes a tensor that may be absent (e.g. a bias); a present one must have the right shape.
    func optional(_ name: String, shape: [Int]) -> InputTensor? {
        guard tensors[name] != nil else { return nil }
        return require(name, shape: shape)
    }

    /// Marks tensors as deliberately not converted (buffers, unused towers); they are listed
    /// in the summary.
    func skip(where predicate: (String) -> Bool) {
        for name in names where !consumed.contains(name) && predicate(name) {
            consumed.insert(name)
            skipped.append(name)
        }
    }

    /// Marks a tensor as used without converting it (e.g. a tied LM head equal to `wte`).
    func markUsed(_ name: String) { if tensors[name] != nil { consumed.insert(name) } }

    /// Tensors neither used nor skipped.
    var unexpected: [String] { names.filter { !consumed.contains($0) } }

    /// Throws the strict-key error listing every problem by name.
    func check() throws {
        if let (name, dtype) = wrongTypes.first {
            throw ConvertError.unsupportedDType(name: name, dtype: dtype.description, path: path)
        }
        let unexpected = self.unexpected
        if missing.isEmpty && unexpected.isEmpty && mismatches.isEmpty { return }
        throw ConvertError.keyMismatch(role: role, path: path, missing: missing,
                                       unexpected: unexpected, shapes: mismatches)
    }

    private static func matches(_ actual: [Int], _ expected: [Int]) -> Bool {
        actual.count == expected.count && zip(actual, expected).allSatisfy { $1 < 0 || $0 == $1 }
    }
}

/// Non-parameter entries that PyTorch checkpoints carry and the converter skips on purpose.
enum KnownBuffers {
    /// GPT-2 causal-mask buffers and BERT's position-id buffer (older transformers saved them).
    static func isBuffer(_ name: String) -> Bool {
        name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias")
            || name.hasSuffix("embeddings.position_ids") || name.hasSuffix("embeddings.token_type_ids")
    }
}
