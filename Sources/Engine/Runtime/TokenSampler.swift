import Foundation

/// Temperature, top-k and top-p filtering, then a draw — in Hugging Face's order
/// (temperature, top-k, top-p).
///
/// Only the candidates that can matter are considered: tokens above a probability threshold that
/// is lowered until they hold at least `topK` tokens and `topP` of the mass (the nucleus of the
/// highest-probability tokens is then inside them, so the result is exact). Top-k, the nucleus
/// and the draw are then found by selection (quickselect by count or by mass) in probability
/// order, never by a full sort: the same token a sort-and-walk would pick, in expected linear
/// time. A full sort of a 21,128-token vocabulary per candidate per step cost ~4 ms.
struct TokenSampler {
    let temperature: Double
    let topK: Int
    let topP: Double
    private var probs: [Double] = []
    private var floats: [Float] = []
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
        let (total, best) = Self.probabilities(logProbs, temperature: temperature, into: &probs, scratch: &floats)
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

        // The nucleus and the draw are found by selection in (probability desc, id asc) order,
        // never by sorting all candidates: with a flat distribution the nucleus holds most of
        // the vocabulary, and sorting it cost ~0.5 ms per candidate per step.
        var keep = candidates.count
        if topK > 0 && topK < keep {
            selectFirst(topK)
            keep = topK
        }
        if topP < 1 {
            // The smallest prefix whose mass reaches topP of the whole distribution (at least one token).
            keep = max(1, selectByMass(topP, scale: 1 / total, count: keep))
        }
        var kept = 0.0
        for j in 0..<keep { kept += candidates[j].p }
        let r = rng.nextDouble() * kept
        let drawn = selectByMass(r, scale: 1, count: keep)
        return candidates[max(drawn, 1) - 1].id
    }

    /// Unnormalised probabilities `e^(lp/T - max)` (exactly 0 for banned tokens), with a
    /// vectorised exp; returns their sum and the largest. The tests' full-sort reference uses
    /// the same numbers.
    static func probabilities(_ logProbs: [Float], temperature: Double, into probs: inout [Double],
                              scratch: inout [Float]) -> (total: Double, best: Double) {
        let n = logProbs.count
        if probs.count != n { probs = [Double](repeating: 0, count: n) }
        if scratch.count != n { scratch = [Float](repeating: 0, count: n) }
        let t = Float(temperature)
        var maxValue = -Float.infinity
        for i in 0..<n {
            let v = t == 1 ? logProbs[i] : logProbs[i] / t
            scratch[i] = v
            maxValue = max(maxValue, v)
        }
        if maxValue == -.infinity {
            for i in 0..<n { probs[i] = 0 }
            return (0, 0)
        }
        let total = scratch.withUnsafeMutableBufferPointer { s in
            SIMDExp.expShifted(s.baseAddress!, minus: maxValue, into: s.baseAddress!, count: n)
        }
        var best = 0.0
        for i in 0..<n {
            let p = Double(scratch[i])
            probs[i] = p
            best = max(best, p)
        }
        return (total, best)
    }

    /// The candidate order: higher probability first, then lower id (a strict total order).
    @inline(__always) private static func precedes(_ a: Candidate, _ b: Candidate) -> Bool {
        a.p > b.p || (a.p == b.p && a.id < b.id)
    }

    /// Partitions `candidates[lo..<hi]` around a median-of-three pivot: returns the pivot's
    /// final index; everything before it precedes it, everything after follows it.
    private mutating func partition(_ lo: Int, _ hi: Int) -> Int {
        let mid = (lo + hi) / 2
        let (a, b, c) = (candidates[lo], candidates[mid], candidates[hi - 1])
        let pivotIndex: Int
        if Self.precedes(a, b) {
            pivotIndex = Self.precedes(b, c) ? mid : (Self.precedes(a, c) ? hi - 1 : lo)
        } else {
            pivotIndex = Self.precedes(a, c) ? lo : (Self.precedes(b, c) ? hi - 1 : mid)
        }
        candidates.swapAt(pivotIndex, hi - 1)
        let pivot = candidates[hi - 1]
        var store = lo
        for i in lo..<(hi - 1) where Self.precedes(candidates[i], pivot) {
            candidates.swapAt(i, store)
            store += 1
        }
        candidates.swapAt(store, hi - 1)
        return store
    }

    /// Moves the first `k` candidates (in order) to `candidates[0..<k]`, in any order.
    private mutating func selectFirst(_ k: Int) {
        var lo = 0, hi = candidates.count
        while hi - lo > 1 {
            let p = partition(lo, hi)
            if p == k || p == k - 1 { return }
            if p > k { hi = p } else { lo = p + 1 }
        }
    }

    /// Among `candidates[0..<count]`, the length `j` of the shortest prefix (in order) whose
    /// mass, Σ p·scale, reaches `target`; afterwards that prefix occupies `candidates[0..<j]`
    /// and its last element (in order) is at `j - 1`. Returns `count` if the target is never
    /// reached. Expected O(count): quickselect by mass, sorting only the last small piece.
    private mutating func selectByMass(_ target: Double, scale: Double, count: Int) -> Int {
        var lo = 0, hi = count
        var mass = 0.0
        while hi - lo > 48 {
            let p = partition(lo, hi)
            var before = 0.0
            for i in lo..<p { before += candidates[i].p * scale }
            if mass + before >= target {
                hi = p
            } else if mass + before + candidates[p].p * scale >= target {
                return p + 1
            } else {
                mass += before + candidates[p].p * scale
                lo = p + 1
            }
        }
        candidates[lo..<hi].sort(by: Self.precedes)
        for i in lo..<hi {
            mass += candidates[i].p * scale
            if mass >= target { return i + 1 }
        }
        return hi
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
