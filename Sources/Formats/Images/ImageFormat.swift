/// Container formats recognised from the first bytes of a file (never from its name).
enum ImageFormat: Equatable {
    case jpeg
    case png
    /// A known image format we do not decode (name for the message).
    case otherImage(String)
    /// Not an image format we know.
    case unknown

    /// Identifies `bytes` by magic number.
    static func sniff(_ bytes: [UInt8]) -> ImageFormat {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + magic.count && Array(bytes[offset..<offset + magic.count]) == magic
        }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }  // Pillow's JPEG test
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return .otherImage("GIF") }
        if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) { return .otherImage("WebP") }
        if starts(Array("BM".utf8)) && bytes.count >= 26 { return .otherImage("BMP") }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return .otherImage("TIFF") }
        if starts(Array("ftyp".utf8), at: 4) { return .otherImage("HEIF/AVIF") }
        if starts([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || starts([0xFF, 0x4F, 0xFF, 0x51]) {
            return .otherImage("JPEG 2000")
        }
        return .unknown
    }

    /// A short human description of unrecognised bytes: printable prefix or hex.
    static func describeUnknown(_ bytes: [UInt8], name: String) -> String {
        let prefix = bytes.prefix(8)
        let printable = prefix.allSatisfy { $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || (0x20..<0x7F).contains($0) }
        var text: String
        if printable {
            let shown = String(decoding: prefix, as: UTF8.self)
                .replacingControlCharacters()
            text = "starts with text \"\(shown)\""
        } else {
            text = "starts with bytes " + prefix.map { hex($0) }.joined(separator: " ")
        }
        let lower = name.lowercased()
        if lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") || lower.hasSuffix(".png") {
            text += "; the name's extension does not match the content"
        }
        return text
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}

private extension String {
    func replacingControlCharacters() -> String {
        String(unicodeScalars.map { $0.value < 0x20 ? " " : Character($0) })
    }
}
