import CImageShim

/// PNG through libpng, reproducing `PIL.Image.open(p).convert("RGB")`:
/// palette -> palette colours (indices past the PLTE give black; tRNS ignored),
/// gray -> replicated, alpha dropped without compositing, 1/2/4-bit gray scaled to 0-255,
/// 16-bit colour/alpha -> high byte, 16-bit gray ("I;16") -> min(value, 255).
enum PNGReader {
    static func decode(_ data: [UInt8], name: String, limits: ImageLimits) throws -> (RGBImage, orientation: Int?) {
        let metadata = ImageMetadata.png(data)
        if let size = metadata.declaredSize {
            _ = try SizeCheck.byteCount(width: size.width, height: size.height, channels: 3, name: name, limits: limits)
        }
        var message = [CChar](repeating: 0, count: ShimStatus.messageCapacity)
        let capacity = message.count
        let image: RGBImage = try data.withUnsafeBufferPointer { input in
            var decoder: OpaquePointer?
            var info = cc_png_info()
            let opened = cc_png_open(input.baseAddress, input.count, &decoder, &info, &message, capacity)
            defer { cc_png_close(decoder) }
            guard opened == Int32(CC_IMG_OK), decoder != nil else {
                throw ShimStatus.error(opened, message, name: name, format: "PNG", bytes: 0)
            }
            let width = Int(info.width), height = Int(info.height)
            let channels = Int(info.output_channels), sampleBytes = Int(info.output_bit_depth) / 8
            guard (1...4).contains(channels), sampleBytes == 1 || sampleBytes == 2 else {
                throw ImageError.unsupported(name: name, format: "PNG",
                                             detail: "\(channels) channels of \(info.output_bit_depth) bits")
            }
            let count = try SizeCheck.byteCount(width: width, height: height, channels: channels * sampleBytes,
                                                name: name, limits: limits)
            var raw = [UInt8](repeating: 0, count: count)
            let status = raw.withUnsafeMutableBufferPointer { out in
                cc_png_decode(decoder, out.baseAddress, out.count, &message, capacity)
            }
            guard status == Int32(CC_IMG_OK) else {
                throw ShimStatus.error(status, message, name: name, format: "PNG", bytes: count)
            }
            let palette: [UInt8]? = info.color_type == 3 ? paletteTable(info) : nil
            let rgb = toRGB(raw, pixelCount: width * height, channels: channels, sampleBytes: sampleBytes,
                            palette: palette)
            return RGBImage(width: width, height: height, pixels: rgb)
        }
        return (image, metadata.orientation)
    }

    /// 256 RGB entries; entries the file does not define are black, as in Pillow.
    private static func paletteTable(_ info: cc_png_info) -> [UInt8] {
        var table = [UInt8](repeating: 0, count: 256 * 3)
        withUnsafeBytes(of: info.palette) { stored in
            for i in 0..<(Int(info.palette_entries) * 3) { table[i] = stored[i] }
        }
        return table
    }

    private static func toRGB(_ raw: [UInt8], pixelCount: Int, channels: Int, sampleBytes: Int,
                              palette: [UInt8]?) -> [UInt8] {
        var rgb = [UInt8](repeating: 0, count: pixelCount * 3)
        let stride = channels * sampleBytes
        // The 8-bit value Pillow keeps from sample `s` of pixel `i`.
        @inline(__always) func sample(_ i: Int, _ s: Int) -> UInt8 { raw[i * stride + s * sampleBytes] }  // high byte
        if let palette {
            for i in 0..<pixelCount {
                let index = Int(raw[i]) * 3
                rgb[i * 3] = palette[index]; rgb[i * 3 + 1] = palette[index + 1]; rgb[i * 3 + 2] = palette[index + 2]
            }
        } else if channels <= 2 {
            let gray16 = channels == 1 && sampleBytes == 2  // Pillow mode "I;16": clipped, not scaled
            for i in 0..<pixelCount {
                let value: UInt8
                if gray16 {
                    value = raw[i * 2] != 0 ? 255 : raw[i * 2 + 1]
                } else {
                    value = sample(i, 0)
                }
                rgb[i * 3] = value; rgb[i * 3 + 1] = value; rgb[i * 3 + 2] = value
            }
        } else {
            for i in 0..<pixelCount {
                rgb[i * 3] = sample(i, 0); rgb[i * 3 + 1] = sample(i, 1); rgb[i * 3 + 2] = sample(i, 2)
            }
        }
        return rgb
    }
}
