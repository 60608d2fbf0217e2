import CCMFormat
import Engine
import KernelSupport

/// `add` / `mul`: elementwise, `b` broadcast to `a` by trailing dimensions. Each output element
/// finds its `b` element from its coordinates, the plain way.
struct NaiveBinary: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    let multiply: Bool

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(2, atMost: 2)
        label = NodeLabel(request.node)
        multiply = request.node.op == "mul"
        guard let operands = FloatOperands(request) else { return nil }
        self.operands = operands
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let a = try operands.input(0, inputs), b = try operands.input(1, inputs)
        guard ShapeChecks.broadcasts(b.shape, to: a.shape) else {
            throw label.error("b \(b.shape) does not broadcast to a \(a.shape) by trailing dimensions")
        }
        let out = try operands.output(outputs, expected: a.shape)
        let bStrides = ShapeChecks.strides(b.shape)
        let offset = a.shape.rank - b.shape.rank
        for i in 0..<a.count {
            // Coordinates of element i of `a`, last axis first; map each onto `b`.
            var rest = i
            var bIndex = 0
            var axis = a.shape.rank - 1
            while axis >= 0 {
                let coordinate = rest % a.shape[axis]
                rest /= a.shape[axis]
                let bAxis = axis - offset
                if bAxis >= 0 && b.shape[bAxis] != 1 { bIndex += coordinate * bStrides[bAxis] }
                axis -= 1
            }
            out[i] = multiply ? a.pointer[i] * b.pointer[bIndex] : a.pointer[i] + b.pointer[bIndex]
        }
    }
}

/// The one-input elementwise operators.
enum UnaryFunction: Sendable {
    case scale(Float)
    case activation(LinearActivation)

    @inline(__always) func apply(_ x: Float) -> Float {
        switch self {
        case .scale(let v): return x * v
        case .activation(let a): return a.apply(x)
        }
    }

    /// The function an op name stands for (`scale` reads its `value`).
    static func make(_ request: KernelRequest) throws -> UnaryFunction? {
        switch request.node.op {
        case "scale":
            guard let v = try request.optionalFloat("value") else { throw NodeLabel(request.node).error("needs a 'value' attribute") }
            return .scale(Float(v))
        case "gelu_erf": return .activation(.geluErf)
        case "gelu_tanh": return .activation(.geluTanh)
        case "quick_gelu": return .activation(.quickGelu)
        case "tanh": return .activation(.tanh)
        case "relu": return .activation(.relu)
        default: return nil
        }
    }
}

/// `scale`, `gelu_erf`, `gelu_tanh`, `quick_gelu`, `tanh`, `relu`: the reference formulas per element.
struct NaiveUnary: Kernel {
    let label: NodeLabel
    let operands: FloatOperands
    let function: UnaryFunction

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(1, atMost: 1)
        label = NodeLabel(request.node)
        guard let function = try UnaryFunction.make(request) else { return nil }
        guard let operands = FloatOperands(request) else { return nil }
        self.function = function
        self.operands = operands
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let x = try operands.input(0, inputs)
        let out = try operands.output(outputs, expected: x.shape)
        for i in 0..<x.count { out[i] = function.apply(x.pointer[i]) }
    }
}
