/// CLIP's image preprocessing, reproducing torchvision's
/// `Compose([Resize(size, BICUBIC), CenterCrop(size), ToTensor(), Normalize(mean, std)])`
/// applied to a PIL RGB image: the shorter side becomes `size`, the longer
/// `int(size * long / short)`, resampled with Pillow's bicubic filter; then the centre
/// `size x size` crop (offsets rounded half to even, as Python's `round`), `/255`, and
/// `(x - mean) / std` per channel, all in float32 (bit-identical to torch).
public struct CLIPPreprocessor: Sendable {
    /// Output side length.
    public let size: Int
    /// Per-channel means (R, G, B).
    public let mean: [Float]
    /// Per-channel standard deviations (R, G, B).
    public let std: [Float]
    /// `(Float(v) / 255 - mean[c]) / std[c]` for channel c and byte v, at `c * 256 + v`.
    private let table: [Float]

    /// Creates a preprocessor; the defaults are OpenAI CLIP's.
    public init(size: Int = 224,
                mean: [Float] = [0.48145466, 0.4578275, 0.40821073],
                std: [Float] = [0.26862954, 0.26130258, 0.27577711]) {
        precondition(size > 0 && mean.count == 3 && std.count == 3, "CLIPPreprocessor: size > 0, 3 means, 3 stds")
        self.size = size
        self.mean = mean
        self.std = std
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            for v in 0..<256 { table[c * 256 + v] = (Float(v) / 255 - mean[c]) / std[c] }
        }
        self.table = table
    }

    /// Returns CHW float32 `[3, size, size]`.
    public func process(_ image: RGBImage) -> [Float] {
        var out = [Float](repeating: 0, count: 3 * size * size)
        out.withUnsafeMutableBufferPointer { process(image, into: $0) }
        return out
    }

    /// Same as `process(_:)`, writing the `3 * size * size` floats into caller memory (the
    /// output is not allocated; the resampler uses a scratch band of about
    /// `rows_read x size x 3` bytes).
    public func process(_ image: RGBImage, into output: UnsafeMutableBufferPointer<Float>) {
        precondition(output.count >= 3 * size * size, "CLIPPreprocessor: output needs \(3 * size * size) floats")
        let crop = resizedCrop(image)
        let plane = size * size
        table.withUnsafeBufferPointer { lut in
            crop.pixels.withUnsafeBufferPointer { pixels in
                for p in 0..<plane {
                    output[p] = lut[Int(pixels[p * 3])]
                    output[plane + p] = lut[256 + Int(pixels[p * 3 + 1])]
                    output[2 * plane + p] = lut[512 + Int(pixels[p * 3 + 2])]
                }
            }
        }
    }

    /// The 8-bit `size x size` image after Resize + CenterCrop (what PIL holds before ToTensor).
    public func resizedCrop(_ image: RGBImage) -> RGBImage {
        let geometry = Self.geometry(width: image.width, height: image.height, size: size)
        if image.width == 0 || image.height == 0 {
            return RGBImage(width: size, height: size, pixels: [UInt8](repeating: 0, count: size * size * 3))
        }
        let pixels = PillowResize.resizeWindow(image, outWidth: geometry.width, outHeight: geometry.height,
                                               columns: geometry.left..<(geometry.left + size),
                                               rows: geometry.top..<(geometry.top + size))
        return RGBImage(width: size, height: size, pixels: pixels)
    }

    /// torchvision's resized size (`_compute_resized_output_size`) and crop offsets (`center_crop`).
    static func geometry(width: Int, height: Int, size: Int) -> (width: Int, height: Int, left: Int, top: Int) {
        let short = min(width, height), long = max(width, height)
        guard short > 0 else { return (size, size, 0, 0) }
        let newLong = Int(Double(size * long) / Double(short))  // Python: int(size * long / short)
        let (w, h) = width <= height ? (size, newLong) : (newLong, size)
        let top = (Double(h - size) / 2.0).rounded(.toNearestOrEven)
        let left = (Double(w - size) / 2.0).rounded(.toNearestOrEven)
        return (w, h, Int(left), Int(top))
    }
}
