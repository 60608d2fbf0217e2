import CCMFormat
import Engine

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
