// The in-memory vocabulary shared by the model file, the converter and the engine.
// These types are the contract between `CCMFormat` (bytes on disk), `ModelConverter`
// (which builds graphs and tensors) and `Engine` (which runs them). The engine knows
// operators, never architectures: everything architecture-specific is expressed with
// these types and stored in the file.

/// Element type of a stored tensor.
public enum DType: UInt8, Sendable, CaseIterable, CustomStringConvertible, Codable {
    case f32 = 0, f16 = 1, bf16 = 2, i8 = 3, i32 = 4, u8 = 5, i64 = 6

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i8, .u8: return 1
        case .i64: return 8
        }
    }

    public var description: String {
        switch self {
        case .f32: return "f32"
        case .f16: return "f16"
        case .bf16: return "bf16"
        case .i8: return "i8"
        case .i32: return "i32"
        case .u8: return "u8"
        case .i64: return "i64"
        }
    }

    /// Parses the names used in `description` (`f32`, `f16`, ...).
    public init?(name: String) {
        guard let match = DType.allCases.first(where: { $0.description == name }) else { return nil }
        self = match
    }
}

/// How a tensor's bytes are stored in the file.
public enum TensorEncoding: UInt8, Sendable, CaseIterable, CustomStringConvertible, Codable {
    /// Stored as-is; used zero-copy from the memory map.
    case raw = 0
    /// One zstd frame; decompressed once, on first use.
    case zstd = 1
    /// Bytes grouped by position within each element (all byte 0s, then all byte 1s, ...) before zstd.
    case shuffledZstd = 2

    public var description: String {
        switch self {
        case .raw: return "raw"
        case .zstd: return "zstd"
        case .shuffledZstd: return "shuffle+zstd"
        }
    }
}

/// Memory layout of a tensor's elements. Row-major is the only layout every backend reads;
/// others are kernel-specific packings a converter may write so that mmap stays zero-copy.
public enum TensorLayout: UInt8, Sendable, CaseIterable, Codable {
    case rowMajor = 0
}

/// How an int8 tensor maps back to real numbers: `real = Float(q) * scale`.
public struct QuantizationInfo: Sendable, Equatable, Codable {
    /// `per_channel` (one scale per index of `axis`) or `block` (one scale per `blockSize`
    /// consecutive elements along the last axis).
    public var scheme: String
    /// Name of the f32 tensor holding the scales.
    public var scalesTensor: String
    /// The axis that has its own scale (per_channel), usually the output-channel axis.
    public var axis: Int
    /// Block length along the last axis (block scheme); 0 otherwise.
    public var blockSize: Int

    public init(scheme: String, scalesTensor: String, axis: Int = 0, blockSize: Int = 0) {
        self.scheme = scheme
        self.scalesTensor = scalesTensor
        self.axis = axis
        self.blockSize = blockSize
    }
}

/// A typed metadata value.
public enum MetaValue: Sendable, Equatable, Codable, CustomStringConvertible {
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case ints([Int64])
    case floats([Double])
    case strings([String])

    public var description: String {
        switch self {
        case .bool(let v): return String(v)
        case .int(let v): return String(v)
        case .float(let v): return String(v)
        case .string(let v): return v
        case .ints(let v): return "[" + v.map(String.init).joined(separator: ", ") + "]"
        case .floats(let v): return "[" + v.map { String($0) }.joined(separator: ", ") + "]"
        case .strings(let v): return "[" + v.joined(separator: ", ") + "]"
        }
    }

    public var intValue: Int? { if case .int(let v) = self { return Int(v) }; return nil }
    public var doubleValue: Double? {
        switch self {
        case .float(let v): return v
        case .int(let v): return Double(v)
        default: return nil
        }
    }
    public var stringValue: String? { if case .string(let v) = self { return v }; return nil }
    public var boolValue: Bool? { if case .bool(let v) = self { return v }; return nil }
    public var intsValue: [Int]? {
        switch self {
        case .ints(let v): return v.map { Int($0) }
        case .int(let v): return [Int(v)]
        default: return nil
        }
    }
    public var doublesValue: [Double]? {
        switch self {
        case .floats(let v): return v
        case .ints(let v): return v.map { Double($0) }
        default: return nil
        }
    }
    public var stringsValue: [String]? { if case .strings(let v) = self { return v }; return nil }
}

/// Ordered key/value metadata. Keys are dotted (`image.mean`, `decoder.vocab_size`);
/// see docs/FORMAT.md for the keys the engine reads.
public struct Metadata: Sendable, Equatable {
    public private(set) var entries: [(key: String, value: MetaValue)]

    public init(_ entries: [(key: String, value: MetaValue)] = []) { self.entries = entries }

    public subscript(key: String) -> MetaValue? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    public static func == (lhs: Metadata, rhs: Metadata) -> Bool {
        lhs.entries.count == rhs.entries.count
            && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

// MARK: - Graphs

/// One dimension of a graph input or state: fixed, or a symbol bound at run time
/// (`B` batch, `T` new tokens, `n_past` cached tokens, `max_ctx` cache capacity).
public enum Dim: Sendable, Equatable, Codable, CustomStringConvertible {
    case fixed(Int)
    case symbol(String)

    public var description: String {
        switch self {
        case .fixed(let n): return String(n)
        case .symbol(let s): return s
        }
    }
}

/// A node attribute. `symbol` stands for an integer bound at run time (e.g. a slice starting at `n_past`).
public enum AttrValue: Sendable, Equatable, Codable, CustomStringConvertible {
    case int(Int64)
    case float(Double)
    case string(String)
    case ints([Int64])
    case floats([Double])
    case symbol(String)

    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .float(let v): return String(v)
        case .string(let v): return "\"\(v)\""
        case .ints(let v): return "[" + v.map(String.init).joined(separator: ",") + "]"
        case .floats(let v): return "[" + v.map { String($0) }.joined(separator: ",") + "]"
        case .symbol(let s): return "$" + s
        }
    }
}

/// A declared graph input, or a persistent state buffer (KV cache), with element type and shape.
public struct ValueSpec: Sendable, Equatable, Codable {
    public var name: String
    public var dtype: DType
    public var shape: [Dim]

    public init(name: String, dtype: DType, shape: [Dim]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }
}

/// One operator application. Inputs name graph inputs, states, outputs of earlier nodes or
/// tensors of the model file (weights); an empty string is an absent optional input.
public struct GraphNode: Sendable, Equatable, Codable {
    public var name: String
    public var op: String
    public var inputs: [String]
    public var outputs: [String]
    public var attrs: [String: AttrValue]

    public init(name: String, op: String, inputs: [String], outputs: [String], attrs: [String: AttrValue] = [:]) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
        self.attrs = attrs
    }
}

/// A named computation graph, stored as data in the model file. Nodes are in execution
/// order (every input is defined before use). See docs/OPS.md for the operators.
public struct ComputeGraph: Sendable, Equatable, Codable {
    public var name: String
    public var inputs: [ValueSpec]
    public var outputs: [String]
    /// Buffers that persist across runs of this graph (the KV cache), zeroed at reset.
    public var states: [ValueSpec]
    public var nodes: [GraphNode]

    public init(name: String, inputs: [ValueSpec], outputs: [String], states: [ValueSpec] = [], nodes: [GraphNode]) {
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.states = states
        self.nodes = nodes
    }
}

// MARK: - Tokenizer

/// The tokenizer stored in a model file.
public struct TokenizerSpec: Sendable, Equatable {
    /// `wordpiece` (BERT `vocab.txt`) or `bpe` (GPT-2 byte-level BPE).
    public var kind: String
    /// Token strings; the index is the token id.
    public var vocab: [String]
    /// BPE merges, each "left right" (empty for WordPiece).
    public var merges: [String]
    /// Rules, e.g. `do_lower_case`, `unk_token`, `tokenize_chinese_chars`, `add_prefix_space`.
    public var options: Metadata

    public init(kind: String, vocab: [String], merges: [String] = [], options: Metadata = Metadata()) {
        self.kind = kind
        self.vocab = vocab
        self.merges = merges
        self.options = options
    }
}
