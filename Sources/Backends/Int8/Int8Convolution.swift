import CCMFormat
import Engine
import KernelSupport

/// `conv2d_i8` on the int8 micro-kernels: per image, the padded input is unfolded into rows
/// `[H'·W', C·kh·kw]` (one row per output pixel), the rows are quantized like `linear_i8`'s
/// activations and multiplied by the int8 weight `[O, C·kh·kw]` (read from the memory map), then
/// the `[H'·W', O]` product is transposed into the `[O, H', W']` output with the bias and relu.
/// The product is `Int8Linear`'s (same kernels, scales and thread split).
struct Int8Conv2d: Kernel {
    let label: NodeLabel
    let geometry: Conv2dGeometry
    let product: Int8Linear
    let bias: PreparedFloats?
    let relu: Bool

    init?(_ request: KernelRequest, path: Int8KernelPath) throws {
        label = NodeLabel(request.node)
        try request.requireInputs(3, atMost: 4)
        guard let w = request.constants.count > 1 ? request.constants[1] : nil, w.dtype == .i8 else { return nil }
        if let xType = request.inputTypes.first ?? nil, xType != .f32 { return nil }
        do { geometry = try Conv2dGeometry(quantizedAttrs: request.node.attrs, weightShape: w.shape.dims) } catch { throw label.error(error.description) }
        // The product itself is a bias-free, activation-free linear_i8 over the unfolded rows.
        var attrs = request.node.attrs
        attrs["activation"] = nil
        let node = GraphNode(name: request.node.name, op: "linear_i8", inputs: Array(request.node.inputs.prefix(3)),
                             outputs: request.node.outputs, attrs: attrs)
        guard let product = try Int8Linear(KernelRequest(node: node, inputTypes: Array(request.inputTypes.prefix(3)),
                                                         constants: Array(request.constants.prefix(3))), path: path) else { return nil }
        self.product = product
        if request.hasInput(3) {
            guard let b = request.constants.count > 3 ? request.constants[3] : nil, let prepared = PreparedFloats(weight: b),
                  prepared.count == geometry.outChannels else {
                throw label.error("the bias (input 3) must be a float tensor of the model file with \(geometry.outChannels) values")
            }
            bias = prepared
        } else {
            bias = nil
        }
        let activation = try LinearActivation(request)
        guard activation == .none || activation == .relu else { throw label.error("activation must be none or relu, got \(activation.rawValue)") }
        relu = activation == .relu
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        guard let xView = inputs.first, xView.dtype == .f32 else { throw label.error("x must be f32") }
        let shape: Shape
        do { shape = try SpatialShapes.conv2d(xView.shape, geometry) } catch { throw label.error(error.description) }
        guard let outView = outputs.first, outView.dtype == .f32, outView.shape == shape, let out = outView.mutableFloats else {
            throw label.error("output view must be f32 \(shape)")
        }
        let x = xView.floats
        let c = xView.shape[1], h = xView.shape[2], w = xView.shape[3], oh = shape[2], ow = shape[3]
        let pixels = oh * ow, k = geometry.reduction, channels = geometry.outChannels
        if pixels == 0 || channels == 0 { return }
        // Scratch: unfolded rows (f32), their quantized form, then the [pixels, O] product.
        let rowBytes = (pixels * k * 4 + 63) & ~63
        let quantBytes = (product.quantizedBytes(rows: pixels) + 63) & ~63
        let raw = context.scratch(bytes: rowBytes + quantBytes + pixels * channels * 4)
        let rows = raw.assumingMemoryBound(to: Float.self)
        let product = (raw + rowBytes + quantBytes).assumingMemoryBound(to: Float.self)
        for b in 0..<shape[0] {
            Im2Col.unfoldRows(x + b * c * h * w, channels: c, height: h, width: w, geometry: geometry,
                              outHeight: oh, outWidth: ow, into: rows)
            let (xq, sx) = self.product.quantize(UnsafePointer(rows), rows: pixels, into: raw + rowBytes)
            self.product.multiply(xq, sx, rows: pixels, bias: nil, activation: .none, into: product, context: context)
            Im2Col.transposeEpilogue(UnsafePointer(product), pixels: pixels, channels: channels, bias: bias?.base, relu: relu,
                                     into: out + b * channels * pixels)
        }
    }
}
