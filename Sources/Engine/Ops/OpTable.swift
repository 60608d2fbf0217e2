import CCMFormat

/// What an operator's input may hold.
public enum OperandRule: Sendable, Equatable {
    /// Real numbers: f32 activations, or f32/f16/bf16 weights.
    case real
    /// Token ids (i32).
    case ids
    /// An int8 weight (with scales elsewhere in the file).
    case int8
    /// Real numbers or an int8 table (quantized embeddings).
    case realOrInt8
    /// Anything: data movement copies elements as they are.
    case any

    /// Whether a value of `dtype` may be passed.
    public func admits(_ dtype: DType) -> Bool {
        switch self {
        case .real: return dtype == .f32 || dtype == .f16 || dtype == .bf16
        case .ids: return dtype == .i32
        case .int8: return dtype == .i8
        case .realOrInt8: return dtype == .f32 || dtype == .f16 || dtype == .bf16 || dtype == .i8
        case .any: return true
        }
    }

    var expected: String {
        switch self {
        case .real: return "f32, f16 or bf16"
        case .ids: return "i32 token ids"
        case .int8: return "an i8 weight"
        case .realOrInt8: return "f32, f16, bf16 or i8"
        case .any: return "any type"
        }
    }
}

/// How the profiler estimates an operator's arithmetic (docs/ENGINE.md, "Profiling").
public enum OpCostModel: Sendable, Equatable {
    /// This many floating-point operations per output element.
    case perOutputElement(Double)
    /// A product: 2 × output elements × the first input's last dimension.
    case product
    /// A convolution: 2 × output elements × the weight's elements per output channel.
    case convolution
    /// Attention over the keys of input 1 (4 × q elements × keys).
    case attention
    /// Attention over the KV cache's `n_past + T` rows.
    case cachedAttention
}

/// One operator of docs/OPS.md: everything the validator, the engine and the profiler need to
/// know about it apart from its kernels. Defined once, in `OpTable.definitions`.
public struct OpDefinition: Sendable {
    public let name: String
    public let minInputs: Int
    /// `nil` for variadic operators (`concat`).
    public let maxInputs: Int?
    /// Inputs that may be given as "" (absent).
    public let optionalInputs: Set<Int>
    public let requiredAttributes: [String]
    /// What each input may hold, by position (the last rule repeats for variadic inputs).
    public let operands: [OperandRule]
    /// The output has the first input's shape (elementwise, row-wise and attention ops).
    public let preservesShape: Bool
    /// Data movement: the output keeps the first input's element type; every other operator
    /// produces f32 activations.
    public let movesData: Bool
    /// Its cost for the profiler's GFLOP/s column.
    public let cost: OpCostModel

    init(_ name: String, inputs: ClosedRange<Int>, variadic: Bool = false, optional: Set<Int> = [],
         attributes: [String] = [], operands: [OperandRule], preservesShape: Bool = false, movesData: Bool = false,
         cost: OpCostModel = .perOutputElement(1)) {
        self.name = name
        minInputs = inputs.lowerBound
        maxInputs = variadic ? nil : inputs.upperBound
        optionalInputs = optional
        requiredAttributes = attributes
        self.operands = operands
        self.preservesShape = preservesShape
        self.movesData = movesData
        self.cost = cost
    }

    /// The rule for input `index`.
    public func operand(_ index: Int) -> OperandRule {
        operands.isEmpty ? .any : operands[min(index, operands.count - 1)]
    }
}

/// The operator table: one entry per operator the runtime can run. Adding an operator means
/// adding its entry here and its shape rule in `ShapeRules`, then a kernel in each backend that
/// implements it (docs/OPS.md, "Adding an operator").
public enum OpTable {
    /// Unary operators that keep their input's shape, with their cost per element.
    static let unary: [(String, Double)] = [("gelu_erf", 8), ("gelu_tanh", 8), ("quick_gelu", 8), ("tanh", 1), ("relu", 1),
                                            ("l2_normalize", 1), ("softmax", 8)]

    /// Activations a `linear` node may fuse (`activation` attribute).
    public static let fusedActivations: Set<String> = ["none", "gelu_tanh", "gelu_erf", "quick_gelu", "tanh", "relu"]

    public static let definitions: [String: OpDefinition] = {
        var list: [OpDefinition] = [
            OpDefinition("gather", inputs: 2...2, operands: [.realOrInt8, .ids]),
            OpDefinition("linear", inputs: 2...3, optional: [2], operands: [.real, .real, .real], cost: .product),
            OpDefinition("linear_i8", inputs: 3...4, optional: [3], attributes: ["scheme"], operands: [.real, .int8, .real, .real], cost: .product),
            OpDefinition("matmul", inputs: 2...2, operands: [.real, .real], cost: .product),
            OpDefinition("add", inputs: 2...2, operands: [.real, .real], preservesShape: true),
            OpDefinition("mul", inputs: 2...2, operands: [.real, .real], preservesShape: true),
            OpDefinition("scale", inputs: 1...1, attributes: ["value"], operands: [.real], preservesShape: true),
            OpDefinition("layer_norm", inputs: 3...3, attributes: ["eps"], operands: [.real, .real, .real], preservesShape: true,
                         cost: .perOutputElement(8)),
            OpDefinition("reshape", inputs: 1...1, attributes: ["shape"], operands: [.any], movesData: true),
            OpDefinition("permute", inputs: 1...1, attributes: ["perm"], operands: [.any], movesData: true),
            OpDefinition("slice", inputs: 1...1, attributes: ["axis", "start"], operands: [.any], movesData: true),
            OpDefinition("concat", inputs: 1...1, variadic: true, attributes: ["axis"], operands: [.any], movesData: true),
            OpDefinition("expand", inputs: 2...2, operands: [.any, .any], movesData: true),
            OpDefinition("attention", inputs: 3...3, attributes: ["heads"], operands: [.real], preservesShape: true, cost: .attention),
            // Input 5, optional: per-row cached lengths, i32 [B] (continuous batching).
            OpDefinition("attention_cached", inputs: 5...6, optional: [5], attributes: ["heads"],
                         operands: [.real, .real, .real, .real, .real, .ids], preservesShape: true,
                         cost: .cachedAttention),
        ]
        list += SpatialShapeRules.definitions
        list += unary.map { OpDefinition($0.0, inputs: 1...1, operands: [.real], preservesShape: true, cost: .perOutputElement($0.1)) }
        return Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
    }()

    /// The definition of `op`, or nil for an operator this version does not know.
    public static func definition(_ op: String) -> OpDefinition? { definitions[op] }

    /// Every operator's name, sorted.
    public static var names: [String] { definitions.keys.sorted() }
}
