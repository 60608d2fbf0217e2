import CCMFormat
import Engine
import NaiveBackend

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

/// The unfolding and the bias/activation pass shared by the float and int8 convolutions.
public enum Im2Col {
    /// `cols[(ci·kh + ky)·kw + kx][oy·W' + ox] = x[ci][oy·s - p + ky][ox·s - p + kx]` (0 outside).
    public static func unfold(_ x: UnsafePointer<Float>, channels: Int, height h: Int, width w: Int,
                              geometry g: Conv2dGeometry, outHeight oh: Int, outWidth ow: Int,
                              into cols: UnsafeMutablePointer<Float>) {
        var row = cols
        for ci in 0..<channels {
            let plane = x + ci * h * w
            for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth {
                    for oy in 0..<oh {
                        let iy = oy * g.stride - g.padding + ky
                        let dst = row + oy * ow
                        guard iy >= 0 && iy < h else {
                            dst.update(repeating: 0, count: ow)
                            continue
                        }
                        let src = plane + iy * w
                        if g.stride == 1 {
                            // Columns [lo, hi) of this output row read inside the image.
                            let lo = min(max(g.padding - kx, 0), ow), hi = max(min(w + g.padding - kx, ow), lo)
                            for ox in 0..<lo { dst[ox] = 0 }
                            if hi > lo { (dst + lo).update(from: src + (lo - g.padding + kx), count: hi - lo) }
                            for ox in hi..<ow { dst[ox] = 0 }
                        } else {
                            for ox in 0..<ow {
                                let ix = ox * g.stride - g.padding + kx
                                dst[ox] = ix >= 0 && ix < w ? src[ix] : 0
                            }
                        }
                    }
                    row += oh * ow
                }
            }
        }
    }

    /// The transposed unfolding, one row per output pixel:
    /// `rows[oy·W' + ox][(ci·kh + ky)·kw + kx] = x[ci][oy·s - p + ky][ox·s - p + kx]` (0 outside).
    public static func unfoldRows(_ x: UnsafePointer<Float>, channels: Int, height h: Int, width w: Int,
                                  geometry g: Conv2dGeometry, outHeight oh: Int, outWidth ow: Int,
                                  into rows: UnsafeMutablePointer<Float>) {
        let k = g.reduction
        for oy in 0..<oh {
            for ox in 0..<ow {
                var dst = rows + (oy * ow + ox) * k
                for ci in 0..<channels {
                    let plane = x + ci * h * w
                    for ky in 0..<g.kernelHeight {
                        let iy = oy * g.stride - g.padding + ky
                        for kx in 0..<g.kernelWidth {
                            let ix = ox * g.stride - g.padding + kx
                            dst[kx] = iy >= 0 && iy < h && ix >= 0 && ix < w ? plane[iy * w + ix] : 0
                        }
                        dst += g.kernelWidth
                    }
                }
            }
        }
    }

    /// `out[o][p] = act(product[p][o] + bias[o])`: a `[pixels, channels]` product into `[channels, pixels]`.
    public static func transposeEpilogue(_ product: UnsafePointer<Float>, pixels: Int, channels: Int,
                                         bias: UnsafePointer<Float>?, relu: Bool, into out: UnsafeMutablePointer<Float>) {
        // Blocks of 32 pixels keep both sides in L1.
        var p0 = 0
        while p0 < pixels {
            let p1 = min(p0 + 32, pixels)
            for o in 0..<channels {
                let add = bias?[o] ?? 0
                let dst = out + o * pixels
                for p in p0..<p1 {
                    let v = product[p * channels + o] + add
                    dst[p] = relu ? max(v, 0) : v
                }
            }
            p0 = p1
        }
    }

    /// Adds `bias[o]` to each of the `pixels` values of channel `o`, then applies relu.
    public static func epilogue(_ out: UnsafeMutablePointer<Float>, channels: Int, pixels: Int,
                                bias: UnsafePointer<Float>?, relu: Bool) {
        guard bias != nil || relu else { return }
        for o in 0..<channels {
            let plane = out + o * pixels
            let add = bias?[o] ?? 0
            if relu {
                for i in 0..<pixels { plane[i] = max(plane[i] + add, 0) }
            } else {
                for i in 0..<pixels { plane[i] += add }
            }
        }
    }
}
