/// The test targets use the project's own definitions, re-exported so a test target needs only
/// `import TestSupport`:
/// - the converter's SHA-256 (the `source.*.sha256` provenance digest), to compare tensor bytes
///   and pixels with the digests the PyTorch and Pillow fixtures recorded;
/// - the engine's SplitMix64 (the sampler's generator), so every seeded mutation reproduces on
///   every machine.
@_exported import struct ModelConverter.SHA256
@_exported import struct Engine.SplitMix64

extension SplitMix64 {
    /// Uniform in 0..<n (0 when n <= 0): positions and choices for mutation tests.
    public mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
}
