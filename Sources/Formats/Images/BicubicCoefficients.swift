/// Pillow's resampling weights for one axis (libImaging/Resample.c `precompute_coeffs` +
/// `normalize_coeffs_8bpc`), bicubic with a = -0.5, computed for a window of output indices.
///
/// Every floating-point step is written in the same order and precision as the C code so
/// the fixed-point weights are identical: the box end is a C `float`, the rest `double`,
/// weights are normalised to sum 1 and rounded half away from zero to 22 fractional bits.
struct BicubicCoefficients {
    /// Fractional bits of the fixed-point weights: 32 - 8 - 2, Pillow's PRECISION_BITS.
    static let precisionBits: Int32 = 22

    /// Maximum taps per output index (`ksize`); `weights` has this stride.
    let taps: Int
    /// For each output index in the window: first input index used.
    let first: [Int]
    /// For each output index in the window: number of input indices used.
    let count: [Int]
    /// `window.count * taps` fixed-point weights.
    let weights: [Int32]

    /// Weights for output indices `window` of a resize from `inSize` to `outSize` samples.
    init(inSize: Int, outSize: Int, window: Range<Int>) {
        let support0 = 2.0  // bicubic filter support
        let boxEnd = Double(Float(inSize))  // box[2] is a C float
        let scale = boxEnd / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = support0 * filterScale
        let taps = Int(support.rounded(.up)) * 2 + 1
        let inverse = 1.0 / filterScale
        let one = Double(1 << BicubicCoefficients.precisionBits)

        var first = [Int](repeating: 0, count: window.count)
        var count = [Int](repeating: 0, count: window.count)
        var weights = [Int32](repeating: 0, count: window.count * taps)
        var real = [Double](repeating: 0, count: taps)
        for (slot, xx) in window.enumerated() {
            let center = 0.0 + (Double(xx) + 0.5) * scale
            var xmin = Int(center - support + 0.5)  // C (int): truncation toward zero
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            let n = max(0, min(xmax - xmin, taps))
            var total = 0.0
            for x in 0..<n {
                let w = Self.filter((Double(x + xmin) - center + 0.5) * inverse)
                real[x] = w
                total += w
            }
            for x in 0..<n {
                let w = total != 0.0 ? real[x] / total : real[x]
                weights[slot * taps + x] = w < 0 ? Int32(-0.5 + w * one) : Int32(0.5 + w * one)
            }
            first[slot] = xmin
            count[slot] = n
        }
        self.taps = taps
        self.first = first
        self.count = count
        self.weights = weights
    }

    /// Keys' cubic convolution kernel with a = -0.5 (Pillow's `bicubic_filter`).
    @inline(__always)
    static func filter(_ value: Double) -> Double {
        let a = -0.5
        let x = value < 0.0 ? -value : value
        if x < 1.0 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
        if x < 2.0 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0.0
    }
}
