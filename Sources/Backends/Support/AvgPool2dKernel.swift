import CCMFormat
import Engine

/// `avg_pool2d`: the mean of each `kernel` x `kernel` window of `x [B, C, H, W]`, windows
/// `stride` apart, no padding (PyTorch's `nn.AvgPool2d`). Summed in `Double`. Cheap next to
/// the convolutions, so naive and blas both dispatch this one kernel.
public struct AvgPool2dKernel: Kernel {
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
