extension RGBImage {
    /// Applies EXIF orientation `value` (1-8) the way `PIL.ImageOps.exif_transpose` does:
    /// 2 mirror, 3 rotate 180, 4 flip vertically, 5 transpose, 6 rotate 90 clockwise,
    /// 7 transverse, 8 rotate 90 counter-clockwise. Other values return the image unchanged.
    func oriented(_ value: Int) -> RGBImage {
        let w = width, h = height
        // Every transform maps output pixel (x, y) to source pixel index base + x*stepX + y*stepY.
        let base: Int, stepX: Int, stepY: Int
        switch value {
        case 2: (base, stepX, stepY) = (w - 1, -1, w)                  // (w-1-x, y)
        case 3: (base, stepX, stepY) = ((h - 1) * w + w - 1, -1, -w)   // (w-1-x, h-1-y)
        case 4: (base, stepX, stepY) = ((h - 1) * w, 1, -w)            // (x, h-1-y)
        case 5: (base, stepX, stepY) = (0, w, 1)                       // (y, x)
        case 6: (base, stepX, stepY) = ((h - 1) * w, -w, 1)            // (y, h-1-x)
        case 7: (base, stepX, stepY) = ((h - 1) * w + w - 1, -w, -1)   // (w-1-y, h-1-x)
        case 8: (base, stepX, stepY) = (w - 1, w, -1)                  // (w-1-y, x)
        default: return self
        }
        let swaps = value >= 5
        let ow = swaps ? h : w, oh = swaps ? w : h
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var d = 0
                for y in 0..<oh {
                    var s = base + y * stepY
                    for _ in 0..<ow {
                        dst[d] = src[s * 3]; dst[d + 1] = src[s * 3 + 1]; dst[d + 2] = src[s * 3 + 2]
                        d += 3
                        s += stepX
                    }
                }
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }
}
