/// Bounds-checked little-endian reads over a byte array. Returns nil past the end, so
/// parsers turn truncation into their own typed error.
struct ByteReader {
    let bytes: [UInt8]
    var position: Int

    init(_ bytes: [UInt8], position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    var remaining: Int { max(0, bytes.count - position) }
    var isAtEnd: Bool { position >= bytes.count }

    mutating func u8() -> UInt8? {
        guard position >= 0, position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func u16() -> UInt16? { uint(2).map { UInt16(truncatingIfNeeded: $0) } }
    mutating func u32() -> UInt32? { uint(4).map { UInt32(truncatingIfNeeded: $0) } }
    mutating func u64() -> UInt64? { uint(8) }

    /// An unsigned little-endian integer of `count` (<= 8) bytes.
    mutating func uint(_ count: Int) -> UInt64? {
        guard count <= 8, position >= 0, count <= remaining else { return nil }
        var value: UInt64 = 0
        for i in 0..<count { value |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += count
        return value
    }

    /// The next `count` bytes.
    mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, position >= 0, count <= remaining else { return nil }
        defer { position += count }
        return bytes[position..<position + count]
    }

    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, count <= remaining else { return false }
        position += count
        return true
    }
}

extension Array where Element == UInt8 {
    /// Unsigned little-endian integer at `offset`, or nil when out of range.
    func littleEndian(at offset: Int, count: Int) -> UInt64? {
        var reader = ByteReader(self, position: offset)
        return reader.uint(count)
    }
}
