import CCMFormat

/// Recomputes the checksums a `.ccm` file carries (every checksummed section's CRC32C in the
/// section table, the table's CRC in the header, the header's own CRC), when the bytes are
/// laid out well enough to find them. Mutated inputs almost always fail the header CRC first;
/// resealing lets the fuzzer reach the section decoders, the tensor-table rules and the zstd
/// path behind it. (The checksum checks themselves are covered by Tests/CLITests.)
enum Reseal {
    static func apply(_ bytes: inout [UInt8]) {
        guard bytes.count >= 64 else { return }
        func u32(_ o: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[o + $1]) << (8 * UInt32($1)) } }
        func u64(_ o: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[o + $1]) << (8 * UInt64($1)) } }
        func put(_ v: UInt32, _ o: Int) { for i in 0..<4 { bytes[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
        func crc(_ start: Int, _ count: Int) -> UInt32 { bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<(start + count)])) } }

        let count = Int(u32(20))
        let table = u64(24)
        if count <= 64, table <= UInt64(bytes.count), UInt64(count * 32) <= UInt64(bytes.count) - table {
            let tableStart = Int(table)
            for i in 0..<count {
                let entry = tableStart + 32 * i
                let flags = u32(entry + 4), offset = u64(entry + 8), length = u64(entry + 16)
                if flags & 2 != 0, offset <= UInt64(bytes.count), length <= UInt64(bytes.count) - offset {
                    put(crc(Int(offset), Int(length)), entry + 24)
                }
            }
            put(crc(tableStart, count * 32), 40)
        }
        put(crc(0, 60), 60)
    }
}
