import CCMFormat
import Engine
import KernelSupport

/// `conv2d` as one `sgemm` per image: `out [O, H'·W'] = W [O, C·kh·kw] · cols [C·kh·kw, H'·W']`,
/// where `cols` is the im2col unfolding of the padded input (built in the session's scratch).
/// A 1x1, stride-1, unpadded convolution multiplies the input itself (no unfolding). The
/// weight `[O, C, kh, kw]` is already `W` row-major. Measured against a direct convolution in
/// docs/PERFORMANCE.md ("CLIP ResNet encoders").
struct BLASConv2d: Kernel {
    let conv: Conv2dOperands

    init?(_ request: KernelRequest) throws {
        guard let conv = try Conv2dOperands(request) else { return nil }
        self.conv = conv
    }

    func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
        let (x, out, shape) = try conv.views(inputs, outputs)
        let g = conv.geometry
        let c = x.shape[1], h = x.shape[2], w = x.shape[3], oh = shape[2], ow = shape[3]
        let pixels = oh * ow, k = g.reduction
        guard OpenBLAS.fits(g.outChannels, pixels, k), OpenBLAS.fits(k * pixels, 0, 0) else {
            throw conv.label.error("\(shape) is too large for a 32-bit BLAS")
        }
        let direct = g.kernelHeight == 1 && g.kernelWidth == 1 && g.stride == 1 && g.padding == 0
        let cols = direct ? nil : context.scratch(bytes: max(k * pixels, 1) * MemoryLayout<Float>.stride)
            .bindMemory(to: Float.self, capacity: max(k * pixels, 1))
        for b in 0..<shape[0] {
            let image = x.pointer + b * c * h * w
            let result = out + b * g.outChannels * pixels
            var operand = image
            if let cols {
                Im2Col.unfold(image, channels: c, height: h, width: w, geometry: g, outHeight: oh, outWidth: ow, into: cols)
                operand = UnsafePointer(cols)
            }
            OpenBLAS.product(m: g.outChannels, n: pixels, k: k, a: conv.weight.base, lda: k,
                             b: operand, transposeB: false, c: result, ldc: pixels)
            Im2Col.epilogue(result, channels: g.outChannels, pixels: pixels, bias: conv.bias?.base, relu: conv.relu)
        }
    }
}
