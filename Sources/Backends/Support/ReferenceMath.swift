import Foundation

/// The element-wise formulas of docs/OPS.md, written plainly and evaluated in `Double`.
/// They are the reference the vectorised approximations of other backends are tested against.
public enum ReferenceMath {
    /// `0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³)))` (GPT-2 `gelu_new`).
    @inlinable public static func geluTanh(_ x: Float) -> Float {
        let d = Double(x)
        let inner = (2.0 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d)
        return Float(0.5 * d * (1 + Foundation.tanh(inner)))
    }

    /// `0.5 x (1 + erf(x/√2))` (BERT).
    @inlinable public static func geluErf(_ x: Float) -> Float {
        let d = Double(x)
        return Float(0.5 * d * (1 + Foundation.erf(d / 2.0.squareRoot())))
    }

    /// `x · sigmoid(1.702 x)` (CLIP).
    @inlinable public static func quickGelu(_ x: Float) -> Float {
        let d = Double(x)
        return Float(d / (1 + Foundation.exp(-1.702 * d)))
    }

    @inlinable public static func tanh(_ x: Float) -> Float {
        Float(Foundation.tanh(Double(x)))
    }

    @inlinable public static func relu(_ x: Float) -> Float {
        x > 0 ? x : 0
    }
}
