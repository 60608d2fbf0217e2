import Foundation

/// Remembers the BPE result of each pre-tokenised piece (keyed by its exact UTF-8 bytes),
/// shared by all copies of a tokenizer and safe to use from several threads.
///
/// Captions repeat the same few hundred words, so after warm-up encoding is one lookup per
/// piece. The cache empties itself when it reaches `capacity` entries to bound memory.
final class BPEWordCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [[UInt8]: [Int32]] = [:]
    private let capacity: Int

    init(capacity: Int = 50_000) { self.capacity = capacity }

    /// The cached ids of `piece`, or `compute(piece)` stored for next time.
    func ids(for piece: [UInt8], compute: ([UInt8]) -> [Int32]) -> [Int32] {
        lock.lock()
        let cached = entries[piece]
        lock.unlock()
        if let cached { return cached }
        let result = compute(piece)
        lock.lock()
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[piece] = result
        lock.unlock()
        return result
    }
}
