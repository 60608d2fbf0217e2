import Foundation

/// Temperature, top-k and top-p filtering, then a draw — in Hugging Face's order
/// (temperature, top-k, top-p).
///
/// Only the candidates that can matter are sorted: tokens above a probability threshold that
/// is lowered until they hold at least `topK` tokens and `topP` of the mass (the nucleus of the
/// highest-probability tokens is then inside them, so the result is exact). With neither filter
/// nothing is sorted at all. A full sort of a 21,128-token vocabulary per candidate per step
/// cost ~4 ms; the nucleus is typically a few hundred tokens.
struct TokenSampler {
    let temperature: Double
    let topK: Int
    let topP: Double
    private var probs: [Double] = []
    private var candidates: [Candidate] = []

    private struct Candidate {
        var p: Double
        var id: Int
    }

    init(temperature: Double, topK: Int, topP: Double) {
        self.temperature = max(temperature, 1e-6)
        self.topK = topK
        self.topP = topP
    }

    /// Picks a token from log-probabilities (banned ids already at -infinity).
    mutating func pick(logProbs: [Float], rng: inout SplitMix64) -> Int {
        let n = logProbs.count
        if probs.count != n { probs = [Double](repeating: 0, count: n) }
        var maxValue = -Double.infinity
        for i in 0..<n { maxValue = max(maxValue, Double(logProbs[i]) / temperature) }
        var total = 0.0
        var best = 0.0
        for i in 0..<n {
            let p = logProbs[i] == -.infinity ? 0 : exp(Double(logProbs[i]) / temperature - maxValue)
            probs[i] = p
            total += p
            best = max(best, p)
        }
        if topK <= 0 && topP >= 1 {
            // Plain sampling: draw over the whole vocabulary in id order.
            var r = rng.nextDouble() * total
            var last = 0
            for i in 0..<n where probs[i] > 0 {
                last = i
                r -= probs[i]
                if r <= 0 { return i }
            }
            return last
        }

        // Candidates above a threshold that holds at least topK tokens and topP of the mass.
        let neededCount = topK > 0 ? min(topK, n) : 1
        let neededMass = topP < 1 ? topP * total : 0
        var threshold = best * 1e-3
        while true {
            candidates.removeAll(keepingCapacity: true)
            var mass = 0.0
            for i in 0..<n where probs[i] >= threshold && probs[i] > 0 {
                candidates.append(Candidate(p: probs[i], id: i))
                mass += probs[i]
            }
            if (candidates.count >= neededCount && mass >= neededMass) || threshold == 0 { break }
            threshold = threshold > best * 1e-12 ? threshold * 1e-3 : 0
        }
        if candidates.isEmpty { return 0 }  // every token banned: nothing meaningful to draw
        candidates.sort { $0.p > $1.p || ($0.p == $1.p && $0.id < $1.id) }

        var keep = candidates.count
        if topK > 0 { keep = min(keep, topK) }
        if topP < 1 {
            // The smallest prefix whose mass reaches topP of the whole distribution (at least one token).
            var mass = 0.0
            var cut = 0
            while cut < keep {
                mass += candidates[cut].p / total
                cut += 1
                if mass >= topP { break }
            }
            keep = max(1, cut)
        }
        var kept = 0.0
        for j in 0..<keep { kept += candidates[j].p }
        var r = rng.nextDouble() * kept
        for j in 0..<keep {
            r -= candidates[j].p
            if r <= 0 { return candidates[j].id }
        }
        return candidates[max(keep - 1, 0)].id
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
