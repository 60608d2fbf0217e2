/// Bounds and options for decoding. The limits are checked against the sizes a file
/// declares, before any pixel memory is allocated (decompression bombs fail fast).
public struct ImageLimits: Sendable, Equatable {
    /// Largest accepted `width * height` (default 100 megapixels, ~300 MB of RGB).
    public var maxPixels: Int
    /// Largest accepted file size in bytes (default 256 MiB).
    public var maxFileBytes: Int
    /// Rotate/flip JPEG and PNG images according to their EXIF orientation (tag 0x0112,
    /// values 2-8), as `PIL.ImageOps.exif_transpose` does. Default on. Note that CLIP's own
    /// reference code (`Image.open(p).convert("RGB")`) does not do this; our PyTorch
    /// reference fixtures were made with `exif_transpose` applied.
    public var applyExifOrientation: Bool

    /// Creates limits; every parameter has a safe default.
    public init(maxPixels: Int = 100_000_000, maxFileBytes: Int = 256 << 20,
                applyExifOrientation: Bool = true) {
        self.maxPixels = maxPixels
        self.maxFileBytes = maxFileBytes
        self.applyExifOrientation = applyExifOrientation
    }
}
