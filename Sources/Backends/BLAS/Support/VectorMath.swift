import Engine
import NaiveBackend

/// Eight floats: one AVX2 register (the package builds with `-target-cpu haswell`).
typealias F8 = SIMD8<Float>

/// Vectorised transcendental functions and activations, eight lanes at a time.
///
/// Accuracy (measured against `ReferenceMath` in BackendTests): `exp` ~2 ulp (Cephes
/// polynomial), `tanh` ~3 ulp, `sigmoid`-based GELUs ~3 ulp relative; `gelu_erf` goes through a
/// Chebyshev `erfc` with ~2e-7 relative error (tests hold all of them to 2e-6 relative).
enum VectorMath {
    @inline(__always) static func splat(_ v: Float) -> F8 { F8(repeating: v) }

    /// `e^x` (Engine's `SIMDExp`, ~2 ulp).
    @inline(__always) static func exp(_ x: F8) -> F8 { SIMDExp.exp(x) }

    @inline(__always) static func magnitude(_ x: F8) -> F8 {
        unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & SIMD8(repeating: 0x7fff_ffff), to: F8.self)
    }

    /// `magnitude` with the sign of `sign`.
    @inline(__always) static func copySign(_ magnitude: F8, _ sign: F8) -> F8 {
        let s = unsafeBitCast(sign, to: SIMD8<UInt32>.self) & SIMD8(repeating: 0x8000_0000)
        return unsafeBitCast(unsafeBitCast(magnitude, to: SIMD8<UInt32>.self) | s, to: F8.self)
    }

    /// `tanh`: Cephes' odd polynomial below |x| = 0.625, `1 - 2/(e^{2|x|} + 1)` above.
    @inline(__always) static func tanh(_ x: F8) -> F8 {
        let ax = magnitude(x)
        let e = exp(ax + ax)
        let large = copySign(splat(1) - splat(2) / (e + splat(1)), x)
        let z = x * x
        var p = splat(-5.70498872745e-3)
        p = splat(2.06390887954e-2).addingProduct(p, z)
        p = splat(-5.37397155531e-2).addingProduct(p, z)
        p = splat(1.33314422036e-1).addingProduct(p, z)
        p = splat(-3.33332819422e-1).addingProduct(p, z)
        let small = x.addingProduct(x * z, p)
        return large.replacing(with: small, where: ax .< splat(0.625))
    }

    /// `erfc(z)` for `z >= 0` with relative error below ~2e-7 (Numerical Recipes' Chebyshev
    /// fit `erfcc`, fractional error < 1.2e-7, plus the `exp`). Relative accuracy in the tail
    /// is what keeps `gelu_erf` accurate for negative inputs, where `1 + erf` cancels.
    @inline(__always) static func erfc(nonNegative z: F8) -> F8 {
        let t = splat(2) / (splat(2) + z)
        var p = splat(0.17087277)
        p = splat(-0.82215223).addingProduct(p, t)
        p = splat(1.48851587).addingProduct(p, t)
        p = splat(-1.13520398).addingProduct(p, t)
        p = splat(0.27886807).addingProduct(p, t)
        p = splat(-0.18628806).addingProduct(p, t)
        p = splat(0.09678418).addingProduct(p, t)
        p = splat(0.37409196).addingProduct(p, t)
        p = splat(1.00002368).addingProduct(p, t)
        p = splat(-1.26551223).addingProduct(p, t)
        return t * exp(p - z * z)
    }

    /// `x / (1 + e^{-a·x})` = `x · sigmoid(a·x)`.
    @inline(__always) static func xSigmoid(_ x: F8, _ a: Float) -> F8 {
        x / (splat(1) + exp(x * splat(-a)))
    }

    /// One activation over eight lanes. `gelu_tanh` uses `0.5x(1 + tanh(u)) = x·sigmoid(2u)`,
    /// which has no cancellation for negative `x`.
    @inline(__always) static func activate(_ x: F8, _ activation: LinearActivation) -> F8 {
        switch activation {
        case .none: return x
        case .relu: return x.replacing(with: splat(0), where: x .< splat(0))
        case .tanh: return tanh(x)
        case .quickGelu: return xSigmoid(x, 1.702)
        case .geluTanh:
            let u = x.addingProduct(x * x * x, splat(0.044715)) * splat(0.7978845608028654)
            return x / (splat(1) + exp(u * splat(-2)))
        case .geluErf:
            // 0.5·x·(1 + erf(x/√2)) = 0.5·x·erfc(|x|/√2) for x < 0, x·(1 - 0.5·erfc(x/√2)) for x >= 0.
            let c = erfc(nonNegative: magnitude(x) * splat(0.7071067811865476))
            let negative = splat(0.5) * x * c
            let positive = x * (splat(1) - splat(0.5) * c)
            return positive.replacing(with: negative, where: x .< splat(0))
        }
    }
}
