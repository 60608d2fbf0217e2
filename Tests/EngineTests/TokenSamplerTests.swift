@testable import Engine
import Foundation
import XCTest

/// The sampler sorts only the candidates that can matter; it must pick exactly what a full
/// sort would, for any distribution, seed, top-k and top-p.
final class TokenSamplerTests: XCTestCase {
    /// The straightforward version: sort the whole vocabulary (same probabilities as the sampler).
    func reference(_ logProbs: [Float], temperature: Double, topK: Int, topP: Double, rng: inout SplitMix64) -> Int {
        var probs: [Double] = [], scratch: [Float] = []
        let (total, _) = TokenSampler.probabilities(logProbs, temperature: temperature, into: &probs, scratch: &scratch)
        let order = probs.indices.sorted { probs[$0] > probs[$1] || (probs[$0] == probs[$1] && $0 < $1) }
        var keep = order.count
        if topK > 0 { keep = min(keep, topK) }
        if topP < 1 {
            var mass = 0.0, cut = 0
            while cut < keep { mass += probs[order[cut]] / total; cut += 1; if mass >= topP { break } }
            keep = max(1, cut)
        }
        let kept = order.prefix(keep).reduce(0.0) { $0 + probs[$1] }
        var r = rng.nextDouble() * kept
        for j in 0..<keep { r -= probs[order[j]]; if r <= 0 { return order[j] } }
        return order[keep - 1]
    }

    func testMatchesAFullSort() {
        var gen = SplitMix64(seed: 99)
        for trial in 0..<300 {
            let n = 50 + Int(gen.next() % 3000)
            let spread = [0.5, 2.0, 8.0, 30.0][trial % 4]
            var logits = (0..<n).map { _ in Float((gen.nextDouble() - 0.5) * spread) }
            if trial % 5 == 0 { for i in 0..<(n / 3) { logits[i] = -.infinity } }  // banned tokens
            var logProbs = [Float](repeating: 0, count: n)
            Decoders.logSoftmax(logits, count: n, banned: [], temperature: 1, into: &logProbs)
            let temperature = [1.0, 0.7, 1.5][trial % 3]
            let topK = [0, 1, 5, 40, n + 10][trial % 5]
            let topP = [1.0, 0.8, 0.95, 0.3, 0.999][(trial / 5) % 5]
            var sampler = TokenSampler(temperature: temperature, topK: topK, topP: topP)
            var a = SplitMix64(seed: UInt64(trial)), b = SplitMix64(seed: UInt64(trial))
            for _ in 0..<5 {
                let got = sampler.pick(logProbs: logProbs, rng: &a)
                if topK == 0 && topP >= 1 {
                    // Plain sampling draws in id order: check it is a valid, unbanned token.
                    XCTAssertGreaterThan(logProbs[got], -.infinity)
                    _ = b.next()
                } else {
                    XCTAssertEqual(got, reference(logProbs, temperature: temperature, topK: topK, topP: topP, rng: &b),
                                   "trial \(trial): n \(n) k \(topK) p \(topP) t \(temperature)")
                }
            }
        }
    }

    /// The vectorised probabilities against Double exp: relative error below 1e-5 (the Float
    /// argument e.g. -36.1 carries 4e-6 of rounding), banned tokens exactly 0.
    func testProbabilitiesMatchDoubleExp() {
        var gen = SplitMix64(seed: 5)
        for n in [1, 7, 8, 9, 100, 21128] {
            var logProbs = (0..<n).map { _ in Float((gen.nextDouble() - 0.5) * 40) }
            if n > 2 { logProbs[1] = -.infinity }
            for temperature in [1.0, 0.7] {
                var probs: [Double] = [], scratch: [Float] = []
                let (total, best) = TokenSampler.probabilities(logProbs, temperature: temperature, into: &probs, scratch: &scratch)
                let m = logProbs.map { Double($0) / temperature }.max()!
                var exactTotal = 0.0
                for i in 0..<n {
                    let exact = logProbs[i] == -.infinity ? 0 : Foundation.exp(Double(Float(Double(logProbs[i]) / temperature)) - Double(Float(m)))
                    exactTotal += exact
                    if exact == 0 { XCTAssertEqual(probs[i], 0) } else { XCTAssertEqual(probs[i], exact, accuracy: 1e-5 * exact + 1e-30, "n \(n) i \(i)") }
                }
                XCTAssertEqual(total, exactTotal, accuracy: 2e-6 * exactTotal)
                XCTAssertEqual(best, probs.max()!)
            }
        }
    }

    func testEverythingBannedDoesNotCrash() {
        var sampler = TokenSampler(temperature: 1, topK: 0, topP: 0.9)
        var rng = SplitMix64(seed: 1)
        XCTAssertEqual(sampler.pick(logProbs: [Float](repeating: -.infinity, count: 10), rng: &rng), 0)
    }
}
