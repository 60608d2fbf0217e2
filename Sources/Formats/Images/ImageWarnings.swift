/// Things about a decoded image a user should hear about although it decoded as PIL decodes
/// it: the caption may be poor for a reason the pixels do not show.
public enum ImageWarnings {
    /// A 16-bit grayscale PNG whose values PIL's `convert("RGB")` clips at 255 (mode "I;16" is
    /// clipped, not scaled): a typical one (values in the thousands) comes out almost white.
    /// Returns a one-line warning when at least half the pixels were clipped.
    public static func check(data: [UInt8], image: RGBImage, name: String) -> [String] {
        // PNG signature (8), IHDR length (4) and type (4), width (4), height (4), bit depth, colour type.
        guard data.count > 25, ImageFormat.sniff(data) == .png, data[24] == 16, data[25] == 0 else { return [] }
        let pixels = image.width * image.height
        guard pixels > 0 else { return [] }
        var white = 0
        var i = 0
        while i < image.pixels.count { if image.pixels[i] == 255 { white += 1 }; i += 3 }
        guard 2 * white >= pixels else { return [] }
        let percent = Int((100 * Double(white) / Double(pixels)).rounded())
        return ["\(name): a 16-bit grayscale PNG: \(percent)% of its pixels are clipped to white by the 8-bit conversion PIL does (and this engine matches), so the caption sees an almost white image; convert it to 8 bits with its range scaled (e.g. `convert in.png -auto-level -depth 8 out.png`) first"]
    }
}

extension ImageDecoder {
    /// `decode(path:limits:)`, plus the warnings of `ImageWarnings.check`.
    public static func decodeWithWarnings(path: String, limits: ImageLimits = .init()) throws -> (image: RGBImage, warnings: [String]) {
        let bytes = try FileBytes.read(path: path, maxBytes: limits.maxFileBytes)
        let image = try decode(data: bytes, name: path, limits: limits)
        return (image, ImageWarnings.check(data: bytes, image: image, name: path))
    }

    /// `decode(data:name:limits:)`, plus the warnings of `ImageWarnings.check`.
    public static func decodeWithWarnings(data: [UInt8], name: String = "<memory>", limits: ImageLimits = .init()) throws -> (image: RGBImage, warnings: [String]) {
        let image = try decode(data: data, name: name, limits: limits)
        return (image, ImageWarnings.check(data: data, image: image, name: name))
    }
}
