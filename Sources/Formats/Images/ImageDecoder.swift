/// Decodes JPEG and PNG files to 8-bit RGB exactly as `PIL.Image.open(p).convert("RGB")`
/// does (after `ImageOps.exif_transpose` when `ImageLimits.applyExifOrientation` is on).
/// The format is detected from the bytes, never from the file name.
public enum ImageDecoder {
    /// Reads and decodes the file at `path`.
    /// - Throws: `ImageError` for missing/unreadable/empty/oversized files, unknown formats
    ///   and broken images; never crashes on bad data.
    public static func decode(path: String, limits: ImageLimits = .init()) throws -> RGBImage {
        let bytes = try FileBytes.read(path: path, maxBytes: limits.maxFileBytes)
        return try decode(data: bytes, name: path, limits: limits)
    }

    /// Decodes an image held in memory; `name` is used in error messages.
    public static func decode(data: [UInt8], name: String = "<memory>", limits: ImageLimits = .init()) throws -> RGBImage {
        if data.isEmpty { throw ImageError.emptyFile(name: name) }
        if data.count > limits.maxFileBytes {
            throw ImageError.fileTooLarge(name: name, bytes: data.count, limit: limits.maxFileBytes)
        }
        let decoded: (RGBImage, orientation: Int?)
        switch ImageFormat.sniff(data) {
        case .jpeg: decoded = try JPEGReader.decode(data, name: name, limits: limits)
        case .png: decoded = try PNGReader.decode(data, name: name, limits: limits)
        case .otherImage(let format):
            throw ImageError.unsupported(name: name, format: format, detail: "only JPEG and PNG are decoded")
        case .unknown:
            throw ImageError.unrecognizedFormat(name: name, detail: ImageFormat.describeUnknown(data, name: name))
        }
        let (image, orientation) = decoded
        if limits.applyExifOrientation, let orientation, orientation != 1 {
            return image.oriented(orientation)
        }
        return image
    }
}
