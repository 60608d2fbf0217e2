import CCMFormat

/// The bounds every graph must stay within, so that shape arithmetic can never overflow and
/// no crafted file makes the engine reserve more memory than its model needs (docs/OPS.md,
/// "Validation"). Checked by `GraphValidator` before anything is planned or allocated.
public enum GraphLimits {
    /// Largest rank of any value (the engine keeps shapes inline, in eight slots).
    public static let maxRank = 8
    /// Largest fixed dimension, and largest magnitude of an integer attribute. 2^31: every
    /// product of a few such numbers stays far inside Int64.
    public static let maxDimension = 1 << 31
    /// Largest element count of one value with its symbols at their bounds (2^36: 256 GiB of
    /// f32, far above any captioning model and far below overflow).
    public static let maxElements = 1 << 36

    /// The run-time symbols a graph may use: the batch of candidates, the tokens of one step,
    /// the tokens already in the KV cache and its capacity. The engine binds them at run time
    /// and checks the memory they imply, with overflow checks, before it allocates.
    public static let symbols: Set<String> = ["B", "T", "n_past", "max_ctx"]

    /// `a * b`, or nil when it overflows or passes `maxElements`.
    public static func product(_ a: Int, _ b: Int) -> Int? {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow || p > maxElements ? nil : p
    }

    /// The element count of `shape`'s fixed dimensions (symbols and unknown dimensions
    /// skipped); nil when it passes `maxElements`.
    public static func fixedElements(_ shape: [Dim?]) -> Int? {
        var n = 1
        for case .fixed(let v)? in shape {
            guard let p = product(n, max(v, 0)) else { return nil }
            n = p
        }
        return n
    }
}
