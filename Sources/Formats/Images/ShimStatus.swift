import CImageShim

/// Turns a status code and message from the C shim into an `ImageError`.
enum ShimStatus {
    static let messageCapacity = Int(CC_IMG_MESSAGE_CAPACITY)

    static func message(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.isEmpty ? "no details" : text
    }

    static func error(_ status: Int32, _ buffer: [CChar], name: String, format: String, bytes: Int) -> ImageError {
        let text = message(buffer)
        switch Int(status) {
        case Int(CC_IMG_TRUNCATED): return .truncated(name: name, format: format, detail: text)
        case Int(CC_IMG_UNSUPPORTED): return .unsupported(name: name, format: format, detail: text)
        case Int(CC_IMG_NO_MEMORY): return .outOfMemory(name: name, bytes: bytes)
        default: return .corrupt(name: name, format: format, detail: text)
        }
    }
}

/// Shared size checks, done on declared sizes before any pixel buffer exists.
enum SizeCheck {
    /// Returns `width * height * channels` after checking zero sizes and `limits.maxPixels`.
    static func byteCount(width: Int, height: Int, channels: Int, name: String, limits: ImageLimits) throws -> Int {
        if width <= 0 || height <= 0 { throw ImageError.zeroSize(name: name, width: width, height: height) }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        if overflow || pixels > limits.maxPixels {
            throw ImageError.tooManyPixels(name: name, width: width, height: height, limit: limits.maxPixels)
        }
        let (bytes, overflow2) = pixels.multipliedReportingOverflow(by: channels)
        if overflow2 { throw ImageError.tooManyPixels(name: name, width: width, height: height, limit: limits.maxPixels) }
        return bytes
    }
}
