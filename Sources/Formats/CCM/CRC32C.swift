// CRC32C (Castagnoli), slicing-by-8, in plain Swift. Used for every checksum in `.ccm`.

/// CRC32C checksum (polynomial 0x1EDC6F41, reflected 0x82F63B78).
/// `CRC32C.checksum(Array("123456789".utf8)) == 0xE3069283`.
public enum CRC32C {
    /// Eight 256-entry tables: table k gives the CRC contribution of a byte followed by k zero bytes.
    private static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let prev = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (prev >> 8) ^ t[Int(prev & 0xFF)]
            }
        }
        return t
    }()

    /// Continues a running CRC (start with 0) over `buffer`.
    public static func update(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        var c = ~crc
        guard let base = buffer.baseAddress, buffer.count > 0 else { return crc }
        let n = buffer.count
        tables.withUnsafeBufferPointer { tp in
            let t = tp.baseAddress!
            var i = 0
            while i + 8 <= n {
                let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let lo = UInt32(truncatingIfNeeded: word) ^ c
                let hi = UInt32(truncatingIfNeeded: word >> 32)
                c = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                c = (c >> 8) ^ t[Int((c ^ UInt32(base.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)]
                i += 1
            }
        }
        return ~c
    }

    /// CRC32C of `buffer`.
    public static func checksum(_ buffer: UnsafeRawBufferPointer) -> UInt32 { update(0, buffer) }

    /// CRC32C of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
