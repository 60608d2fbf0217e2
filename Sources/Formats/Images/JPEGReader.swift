import CImageShim

/// JPEG through libjpeg(-turbo), reproducing `PIL.Image.open(p).convert("RGB")`:
/// gray and YCbCr/RGB files come out of libjpeg as RGB (ISLOW IDCT, fancy upsampling);
/// 4-component files come out as CMYK, which Pillow always treats as Adobe-inverted
/// ("CMYK;I") and converts with its own integer formula.
enum JPEGReader {
    static func decode(_ data: [UInt8], name: String, limits: ImageLimits) throws -> (RGBImage, orientation: Int?) {
        let metadata = ImageMetadata.jpeg(data)
        if let size = metadata.declaredSize {
            _ = try SizeCheck.byteCount(width: size.width, height: size.height, channels: 3, name: name, limits: limits)
        }
        var message = [CChar](repeating: 0, count: ShimStatus.messageCapacity)
        let capacity = message.count
        let image: RGBImage = try data.withUnsafeBufferPointer { input in
            var decoder: OpaquePointer?
            var info = cc_jpeg_info()
            let opened = cc_jpeg_open(input.baseAddress, input.count, &decoder, &info, &message, capacity)
            defer { cc_jpeg_close(decoder) }
            guard opened == Int32(CC_IMG_OK), decoder != nil else {
                throw ShimStatus.error(opened, message, name: name, format: "JPEG", bytes: 0)
            }
            let width = Int(info.width), height = Int(info.height), channels = Int(info.output_channels)
            let count = try SizeCheck.byteCount(width: width, height: height, channels: channels, name: name, limits: limits)
            var raw = [UInt8](repeating: 0, count: count)
            let status = raw.withUnsafeMutableBufferPointer { out in
                cc_jpeg_decode(decoder, out.baseAddress, out.count, &message, capacity)
            }
            guard status == Int32(CC_IMG_OK) else {
                throw ShimStatus.error(status, message, name: name, format: "JPEG", bytes: count)
            }
            if channels == 3 { return RGBImage(width: width, height: height, pixels: raw) }
            return RGBImage(width: width, height: height, pixels: invertedCMYKToRGB(raw, pixelCount: width * height))
        }
        return (image, metadata.orientation)
    }

    /// Pillow: unpack "CMYK;I" (c = 255 - stored), then `cmyk2rgb`:
    /// nk = 255 - k; r = nk - muldiv255(c, nk) with muldiv255(a, b) = ((a*b+128) + ((a*b+128) >> 8)) >> 8.
    static func invertedCMYKToRGB(_ cmyk: [UInt8], pixelCount: Int) -> [UInt8] {
        var rgb = [UInt8](repeating: 0, count: pixelCount * 3)
        for i in 0..<pixelCount {
            let nk = Int(cmyk[i * 4 + 3])  // 255 - (255 - stored k)
            for channel in 0..<3 {
                let c = 255 - Int(cmyk[i * 4 + channel])
                let t = c * nk + 128
                let value = nk - (((t >> 8) + t) >> 8)
                rgb[i * 3 + channel] = UInt8(clamping: value)
            }
        }
        return rgb
    }
}
