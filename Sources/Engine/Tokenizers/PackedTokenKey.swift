/// A token of at most 15 UTF-8 bytes packed into two integers: a dictionary key that hashes
/// fast and compares exact bytes (not canonical equivalence, unlike `String`).
///
/// WordPiece looks up every candidate substring of every word; building a `String` per
/// candidate and hashing it byte by byte would cost far more than the lookup itself.
struct PackedTokenKey: Hashable, Sendable {
    private(set) var low: UInt64 = 0
    /// Bytes 8...14, and the byte count in the top byte.
    private(set) var high: UInt64 = 0

    static let capacity = 15

    /// The empty token (used to fill unused hash-table slots).
    init() {}

    /// The key of `scalars`, preceded by WordPiece's "##" when `continuation` is set, or nil
    /// when longer than 15 bytes.
    init?(continuation: Bool, scalars: ArraySlice<Unicode.Scalar>) {
        var count = 0
        if continuation {
            _ = append(0x23, at: &count)
            _ = append(0x23, at: &count)
        }
        for scalar in scalars {
            let v = scalar.value
            if v < 0x80 {
                guard append(UInt8(v), at: &count) else { return nil }
            } else if v < 0x800 {
                guard append(UInt8(0xC0 | (v >> 6)), at: &count),
                      append(UInt8(0x80 | (v & 0x3F)), at: &count) else { return nil }
            } else if v < 0x10000 {
                guard append(UInt8(0xE0 | (v >> 12)), at: &count),
                      append(UInt8(0x80 | ((v >> 6) & 0x3F)), at: &count),
                      append(UInt8(0x80 | (v & 0x3F)), at: &count) else { return nil }
            } else {
                guard append(UInt8(0xF0 | (v >> 18)), at: &count),
                      append(UInt8(0x80 | ((v >> 12) & 0x3F)), at: &count),
                      append(UInt8(0x80 | ((v >> 6) & 0x3F)), at: &count),
                      append(UInt8(0x80 | (v & 0x3F)), at: &count) else { return nil }
            }
        }
        high |= UInt64(count) << 56
    }

    /// The key of `token`, or nil when longer than 15 bytes.
    init?(_ token: String) {
        var count = 0
        for byte in token.utf8 {
            guard append(byte, at: &count) else { return nil }
        }
        high |= UInt64(count) << 56
    }

    private mutating func append(_ byte: UInt8, at count: inout Int) -> Bool {
        guard count < Self.capacity else { return false }
        if count < 8 {
            low |= UInt64(byte) << (8 * UInt64(count))
        } else {
            high |= UInt64(byte) << (8 * UInt64(count - 8))
        }
        count += 1
        return true
    }
}

/// An open-addressing hash table from packed tokens to ids.
///
/// Swift's `Dictionary` hashes every key with seeded SipHash, which costs more than the rest
/// of a WordPiece lookup; a multiplicative hash over the two words is enough here because
/// the keys are fixed at load time.
struct PackedTokenIndex: Sendable {
    private var keys: [PackedTokenKey]
    /// -1 marks an empty slot.
    private var values: [Int32]
    private let mask: Int

    init(minimumCapacity: Int) {
        var capacity = 16
        while capacity < minimumCapacity * 2 { capacity *= 2 }
        keys = Array(repeating: PackedTokenKey(), count: capacity)
        values = Array(repeating: -1, count: capacity)
        mask = capacity - 1
    }

    private func slot(for key: PackedTokenKey) -> Int {
        let mixed = (key.low &* 0x9E37_79B9_7F4A_7C15) ^ (key.high &* 0xC2B2_AE3D_27D4_EB4F)
        return Int(truncatingIfNeeded: (mixed ^ (mixed >> 29)) & UInt64(mask))
    }

    /// Stores `value` for `key`; returns the value already stored for `key`, if any.
    mutating func insert(_ value: Int, for key: PackedTokenKey) -> Int? {
        var index = slot(for: key)
        while values[index] >= 0 {
            if keys[index] == key { return Int(values[index]) }
            index = (index + 1) & mask
        }
        keys[index] = key
        values[index] = Int32(value)
        return nil
    }

    subscript(key: PackedTokenKey) -> Int? {
        var index = slot(for: key)
        while values[index] >= 0 {
            if keys[index] == key { return Int(values[index]) }
            index = (index + 1) & mask
        }
        return nil
    }
}
