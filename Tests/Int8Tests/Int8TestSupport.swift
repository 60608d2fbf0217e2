import CCMFormat
import Engine
import Foundation

/// Deterministic pseudo-random numbers for reproducible test data (SplitMix64).
struct SeededRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }

    /// Approximately normal (sum of uniforms), mean 0, standard deviation `sigma`.
    mutating func normal(_ sigma: Float) -> Float {
        var s: Float = 0
        for _ in 0..<4 { s += uniform(-1, 1) }
        return s * sigma * 0.8660254
    }

    mutating func int8(_ lo: Int8 = -127, _ hi: Int8 = 127) -> Int8 {
        Int8(Int(lo) + Int(next() % UInt64(Int(hi) - Int(lo) + 1)))
    }
}
