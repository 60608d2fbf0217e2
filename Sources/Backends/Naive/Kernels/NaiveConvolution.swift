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

/// `conv2d`: `x [B, C, H, W]` with weight `[O, C, kh, kw]`, bias `[O]`?, square `stride` and
/// zero `padding`, then `activation` (`none` or `relu`): `[B, O, H', W']`. The reference: one
/// `Double` accumulator per output element, summed over (c, ky, kx) in that order.
struct NaiveConv2d: Kernel {
    let conv: Conv2dOperands

    init?(_ request: KernelRequest) throws {
        guard let conv = try Conv2dOperands(request) else { return nil }
        self.conv = conv
    }

    /// `conv2d_i8`: the int8 weight `[O, C·kh·kw]` dequantized once (per_channel or block
    /// scales, input 2), then exactly the `conv2d` reference; the bias is input 3.
    init?(quantized request: KernelRequest) throws {
        try request.requireInputs(3, atMost: 4)
        let label = NodeLabel(request.node)
        guard let w = request.constants.count > 1 ? request.constants[1] : nil else {
            throw label.error("the weight (input 1) must be an int8 tensor of the model file")
        }
        guard w.dtype == .i8 else { return nil }
        let geometry: Conv2dGeometry
        do { geometry = try Conv2dGeometry(quantizedAttrs: request.node.attrs, weightShape: w.shape.dims) } catch { throw label.error(error.description) }
        guard w.bytes.count >= w.shape.elementCount else { throw label.error("weight '\(w.name)' holds fewer bytes than \(w.shape) needs") }
        guard let operands = FloatOperands(request, skipping: [1, 2]) else { return nil }
        let values = try Int8Dequantization.weights(request, label: label, weight: w)
        let weight = PreparedFloats(values: values, shape: Shape(geometry.outChannels, geometry.inChannels, geometry.kernelHeight, geometry.kernelWidth))
        conv = try Conv2dOperands(request, geometry: geometry, weight: weight, biasIndex: 3, operands: operands)
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let (x, out, shape) = try conv.views(inputs, outputs)
        let g = conv.geometry
        let c = x.shape[1], h = x.shape[2], w = x.shape[3], oh = shape[2], ow = shape[3]
        let weight = conv.weight.base
        for b in 0..<shape[0] {
            let image = x.pointer + b * c * h * w
            for o in 0..<g.outChannels {
                let filter = weight + o * g.reduction
                let plane = out + (b * g.outChannels + o) * oh * ow
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var sum: Double = 0
                        for ci in 0..<c {
                            for ky in 0..<g.kernelHeight {
                                let iy = oy * g.stride - g.padding + ky
                                guard iy >= 0 && iy < h else { continue }
                                for kx in 0..<g.kernelWidth {
                                    let ix = ox * g.stride - g.padding + kx
                                    guard ix >= 0 && ix < w else { continue }
                                    sum += Double(image[(ci * h + iy) * w + ix])
                                        * Double(filter[(ci * g.kernelHeight + ky) * g.kernelWidth + kx])
                                }
                            }
                        }
                        if let bias = conv.bias { sum += Double(bias.base[o]) }
                        let value = Float(sum)
                        plane[oy * ow + ox] = conv.relu ? max(value, 0) : value
                    }
                }
            }
        }
    }
}

/// `avg_pool2d`: the mean of each `kernel` x `kernel` window of `x [B, C, H, W]`, windows
/// `stride` apart, no padding (PyTorch's `nn.AvgPool2d`). Summed in `Double`. Cheap next to
/// the convolutions, so the BLAS backend uses it too.
public struct NaiveAvgPool2d: Kernel {
    let label: NodeLabel
    let geometry: Pool2dGeometry
    let operands: FloatOperands

    public init?(_ request: KernelRequest) throws {
        try request.requireInputs(1, atMost: 1)
        label = NodeLabel(request.node)
        do { geometry = try Pool2dGeometry(attrs: request.node.attrs) } catch { throw label.error(error.description) }
        guard let operands = FloatOperands(request) else { return nil }
        self.operands = operands
    }

    public func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let x = try operands.input(0, inputs)
        let shape: Shape
        do { shape = try SpatialShapes.avgPool2d(x.shape, geometry) } catch { throw label.error(error.description) }
        let out = try operands.output(outputs, expected: shape)
        let h = x.shape[2], w = x.shape[3], oh = shape[2], ow = shape[3], k = geometry.kernel, s = geometry.stride
        let inverse = 1 / Double(k * k)
        for plane in 0..<(shape[0] * shape[1]) {
            let src = x.pointer + plane * h * w
            let dst = out + plane * oh * ow
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var sum: Double = 0
                    for ky in 0..<k {
                        let row = src + (oy * s + ky) * w + ox * s
                        for kx in 0..<k { sum += Double(row[kx]) }
                    }
                    dst[oy * ow + ox] = Float(sum * inverse)
                }
            }
        }
    }
}
