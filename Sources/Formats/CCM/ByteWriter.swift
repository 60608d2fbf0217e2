// Little-endian encoding of the table sections into a growing byte array (tables are small;
// tensor data never passes through here).

/// Appends little-endian values to `bytes`.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func bool(_ v: Bool) { u8(v ? 1 : 0) }
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u32(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }
    /// Zero bytes up to the next multiple of `alignment`.
    mutating func pad(to alignment: Int) {
        let rem = bytes.count % alignment
        if rem != 0 { bytes.append(contentsOf: [UInt8](repeating: 0, count: alignment - rem)) }
    }
}
