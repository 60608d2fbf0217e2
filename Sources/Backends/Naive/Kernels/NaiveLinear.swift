import CCMFormat
import Engine
import KernelSupport

/// The weight of a `linear`-like product, with the layout it is stored in.
struct LinearWeight: Sendable {
    /// `[K, N]` (`io`) when `true`, else `[N, K]` (`oi`).
    let inputMajor: Bool
    let k: Int
    let n: Int
    let values: PreparedFloats
}

/// Shared by `linear` and `linear_i8`: `out = act(x·W + b)` with one `Double` accumulator per
/// output element, summing over `k` in order.
struct NaiveProduct: Sendable {
    let label: NodeLabel
    let weight: LinearWeight
    let bias: PreparedFloats?
    /// Input index of a bias that is not a model-file tensor (`nil`: none or constant).
    let runtimeBiasIndex: Int?
    let activation: LinearActivation
    let operands: FloatOperands

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let x = try operands.input(0, inputs)
        let k = weight.k, n = weight.n
        guard x.shape.rank >= 1, x.shape.last == k else {
            throw label.error("x is \(x.shape) but the weight expects \(k) input features")
        }
        var biasPointer: UnsafePointer<Float>? = bias?.base
        if let index = runtimeBiasIndex {
            let b = try operands.input(index, inputs)
            guard b.count == n else { throw label.error("bias has shape \(b.shape), expected [\(n)]") }
            biasPointer = b.pointer
        }
        let out = try operands.output(outputs, expected: ShapeChecks.replacingLast(x.shape, with: n))
        // One Double accumulator per output feature; each sums x[i]·w(i, j) for i = 0, 1, ...
        // in order. The weight is walked in its storage order (rows of `io`, rows of `oi`).
        let acc = context.scratch(bytes: max(n, 1) * MemoryLayout<Double>.stride).bindMemory(to: Double.self, capacity: max(n, 1))
        let w = weight.values.base
        for r in 0..<ShapeChecks.leadingCount(x.shape) {
            let row = x.pointer + r * k
            if weight.inputMajor {
                for j in 0..<n { acc[j] = 0 }
                for i in 0..<k {
                    let xi = Double(row[i])
                    for j in 0..<n { acc[j] += xi * Double(w[i * n + j]) }
                }
            } else {
                for j in 0..<n {
                    var sum: Double = 0
                    for i in 0..<k { sum += Double(row[i]) * Double(w[j * k + i]) }
                    acc[j] = sum
                }
            }
            for j in 0..<n {
                var value = acc[j]
                if let biasPointer { value += Double(biasPointer[j]) }
                out[r * n + j] = activation.apply(Float(value))
            }
        }
    }

    /// Prepares the bias (input 2 for `linear`, 3 for `linear_i8`).
    static func bias(_ request: KernelRequest, index: Int, n: Int, operands: FloatOperands) throws -> (PreparedFloats?, Int?) {
        guard request.hasInput(index) else { return (nil, nil) }
        if let b = operands.prepared[index] {
            guard b.shape.elementCount == n else {
                throw operands.label.error("bias has shape \(b.shape), expected [\(n)]")
            }
            return (b, nil)
        }
        return (nil, index)
    }
}

/// `linear`: `x [..., K] · W + b`, then the activation. `W` is `[K, N]` (`w_layout` `io`) or
/// `[N, K]` (`oi`); `f16` / `bf16` weights are widened to `f32` once, here.
struct NaiveLinear: Kernel {
    let product: NaiveProduct

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(2, atMost: 3)
        let label = NodeLabel(request.node)
        guard let operands = FloatOperands(request) else { return nil }
        guard let w = operands.prepared[1] else {
            throw label.error("the weight (input 1) must be a tensor of the model file")
        }
        guard w.shape.rank == 2 else { throw label.error("weight must be 2-D, got \(w.shape)") }
        let layout = request.string("w_layout") ?? "io"
        guard request.node.attrs["w_layout"] == nil || request.string("w_layout") != nil,
              layout == "io" || layout == "oi" else {
            throw label.error("w_layout must be \"io\" or \"oi\", got \(request.node.attrs["w_layout"].map { "\($0)" } ?? "?")")
        }
        let inputMajor = layout == "io"
        let weight = LinearWeight(inputMajor: inputMajor, k: inputMajor ? w.shape[0] : w.shape[1],
                                  n: inputMajor ? w.shape[1] : w.shape[0], values: w)
        let (bias, runtimeBias) = try NaiveProduct.bias(request, index: 2, n: weight.n, operands: operands)
        product = NaiveProduct(label: label, weight: weight, bias: bias, runtimeBiasIndex: runtimeBias,
                               activation: try LinearActivation(request), operands: operands)
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        try product.run(inputs: inputs, outputs: outputs, context: context)
    }
}

/// `linear_i8`: the reference for quantized products. The int8 weight `[N, K]` is dequantized
/// once (per-channel scales `[N]` or block scales `[N, ceil(K/block)]`), then multiplied in
/// `Double` exactly like `linear` with layout `oi`; `x` is not quantized.
struct NaiveLinearI8: Kernel {
    let product: NaiveProduct

    init?(_ request: KernelRequest) throws {
        try request.requireInputs(3, atMost: 4)
        let label = NodeLabel(request.node)
        guard let w = request.constants.count > 1 ? request.constants[1] : nil else {
            throw label.error("the weight (input 1) must be an int8 tensor of the model file")
        }
        guard w.dtype == .i8 else { return nil }
        guard w.shape.rank == 2 else { throw label.error("weight must be [N, K], got \(w.shape)") }
        let n = w.shape[0], k = w.shape[1]
        guard w.bytes.count >= n * k else { throw label.error("weight '\(w.name)' holds fewer bytes than \(w.shape) needs") }
        guard let operands = FloatOperands(request, skipping: [1, 2]) else { return nil }
        let dequantized = try Int8Dequantization.weights(request, label: label, weight: w)
        let weight = LinearWeight(inputMajor: false, k: k, n: n,
                                  values: PreparedFloats(values: dequantized, shape: w.shape))
        let (bias, runtimeBias) = try NaiveProduct.bias(request, index: 3, n: n, operands: operands)
        product = NaiveProduct(label: label, weight: weight, bias: bias, runtimeBiasIndex: runtimeBias,
                               activation: try LinearActivation(request), operands: operands)
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        try product.run(inputs: inputs, outputs: outputs, context: context)
    }
}
