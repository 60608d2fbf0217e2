import Foundation

/// Temperature, top-k and top-p filtering, then a draw — in Hugging Face's order
/// (temperature, top-k, top-p).
struct TokenSampler {
    let temperature: Double
    let topK: Int
    let topP: Double
    private var order: [Int] = []
    private var probs: [Double] = []

    init(temperature: Double, topK: Int, topP: Double) {
        self.temperature = max(temperature, 1e-6)
        self.topK = topK
        self.topP = topP
    }

    /// Picks a token from log-probabilities (banned ids already at -infinity).
    mutating func pick(logProbs: [Float], rng: inout SplitMix64) -> Int {
        let n = logProbs.count
        if probs.count != n { probs = [Double](repeating: 0, count: n); order = Array(0..<n) }
        var maxValue = -Double.infinity
        for i in 0..<n { maxValue = max(maxValue, Double(logProbs[i]) / temperature) }
        var total = 0.0
        for i in 0..<n {
            let p = logProbs[i] == -.infinity ? 0 : exp(Double(logProbs[i]) / temperature - maxValue)
            probs[i] = p
            total += p
        }
        for i in 0..<n { order[i] = i }
        order.sort { probs[$0] > probs[$1] || (probs[$0] == probs[$1] && $0 < $1) }
        var keep = n
        if topK > 0 { keep = min(keep, topK) }
        if topP < 1 {
            // Keep the smallest prefix whose mass reaches topP (always at least one token).
            var mass = 0.0
            var cut = 0
            while cut < keep {
                mass += probs[order[cut]] / total
                cut += 1
                if mass >= topP { break }
            }
            keep = max(1, cut)
        }
        var kept = 0.0
        for j in 0..<keep { kept += probs[order[j]] }
        var r = rng.nextDouble() * kept
        for j in 0..<keep {
            r -= probs[order[j]]
            if r <= 0 { return order[j] }
        }
        return order[keep - 1]
    }
}

/// A small, fast, seedable generator: the same seed gives the same captions everywhere.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }
}
