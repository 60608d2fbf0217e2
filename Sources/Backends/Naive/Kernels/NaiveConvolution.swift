import CCMFormat
import Engine
import KernelSupport

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
