import CCMFormat
import Engine

/// What `conv2d` kernels of every backend prepare at load: the geometry, the weight
/// `[O, C, kh, kw]` as `f32`, the bias and the activation (`none` or `relu`).
public struct Conv2dOperands: Sendable {
    public let label: NodeLabel
    public let geometry: Conv2dGeometry
    public let weight: PreparedFloats
    public let bias: PreparedFloats?
    public let relu: Bool
    public let operands: FloatOperands

    /// `nil` when an operand has an element type the float kernels cannot read.
    public init?(_ request: KernelRequest) throws {
        try request.requireInputs(2, atMost: 3)
        let label = NodeLabel(request.node)
        guard let operands = FloatOperands(request) else { return nil }
        guard let weight = operands.prepared[1] else {
            throw label.error("the weight (input 1) must be a tensor of the model file")
        }
        let geometry: Conv2dGeometry
        do { geometry = try Conv2dGeometry(attrs: request.node.attrs, weightShape: weight.shape.dims) } catch { throw label.error(error.description) }
        try self.init(request, geometry: geometry, weight: weight, biasIndex: 2, operands: operands)
    }

    /// With a weight prepared by the caller (e.g. dequantized int8) and the bias at `biasIndex`.
    public init(_ request: KernelRequest, geometry: Conv2dGeometry, weight: PreparedFloats, biasIndex: Int,
                operands: FloatOperands) throws {
        let label = NodeLabel(request.node)
        if request.hasInput(biasIndex) {
            guard let b = operands.prepared[biasIndex] else { throw label.error("the bias (input \(biasIndex)) must be a tensor of the model file") }
            guard b.shape.elementCount == geometry.outChannels else {
                throw label.error("bias has shape \(b.shape), expected [\(geometry.outChannels)]")
            }
            bias = b
        } else {
            bias = nil
        }
        let activation = try LinearActivation(request)
        guard activation == .none || activation == .relu else {
            throw label.error("\(request.node.op) activation must be none or relu, got \(activation.rawValue)")
        }
        relu = activation == .relu
        self.label = label
        self.geometry = geometry
        self.weight = weight
        self.operands = operands
    }

    /// The input and the output of one call, shapes checked.
    public func views(_ inputs: [TensorView], _ outputs: [TensorView]) throws -> (x: FloatInput, out: UnsafeMutablePointer<Float>, shape: Shape) {
        let x = try operands.input(0, inputs)
        let shape: Shape
        do { shape = try SpatialShapes.conv2d(x.shape, geometry) } catch { throw label.error(error.description) }
        return (x, try operands.output(outputs, expected: shape), shape)
    }
}
