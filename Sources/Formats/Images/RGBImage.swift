/// 8-bit RGB pixels, row-major, 3 bytes per pixel (R, G, B), no padding between rows.
public struct RGBImage: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// `width * height * 3` bytes; pixel (x, y) starts at `(y * width + x) * 3`.
    public var pixels: [UInt8]

    /// Wraps existing pixels. `pixels.count` must be `width * height * 3` (a programming
    /// error otherwise: decoders only ever build consistent images).
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes do not match \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}
