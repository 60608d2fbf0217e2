import CChecksum

/// CRC32C checksum (polynomial 0x1EDC6F41, reflected 0x82F63B78), used for every checksum in
/// `.ccm`. The work is done in C (Sources/CChecksum): the SSE4.2 instruction where the CPU has
/// it, chosen at run time, a portable loop elsewhere.
/// `CRC32C.checksum(Array("123456789".utf8)) == 0xE3069283`.
public enum CRC32C {
    /// Continues a running CRC (start with 0) over `buffer`.
    public static func update(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return crc }
        return ccm_crc32c_update(crc, base, buffer.count)
    }

    /// CRC32C of `buffer`.
    public static func checksum(_ buffer: UnsafeRawBufferPointer) -> UInt32 { update(0, buffer) }

    /// CRC32C of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// The CRC of A followed by B, from `crc(A)`, `crc(B)` and B's length: how slices checked
    /// on several threads are joined into one tensor's checksum.
    public static func combine(_ a: UInt32, _ b: UInt32, lengthOfB: Int) -> UInt32 {
        ccm_crc32c_combine(a, b, UInt64(max(0, lengthOfB)))
    }

    /// Whether the hardware instruction is in use (for `backends` and the docs' figures).
    public static var isHardware: Bool { ccm_crc32c_is_hardware() != 0 }
}
