import XCTest
@testable import CCMFormat

final class CRC32CTests: XCTestCase {
    func testKnownVector() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
    }

    func testEmptyAndZeros() {
        XCTAssertEqual(CRC32C.checksum([]), 0)
        // RFC 3720 (iSCSI) B.4 test vectors: 32 bytes of zeros / of 0xFF.
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
    }

    /// Slicing-by-8 and the byte-wise tail must agree at every length and split point.
    func testIncrementalMatchesOneShot() {
        var rng = SplitMix64(seed: 7)
        let data = (0..<300).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let whole = CRC32C.checksum(data)
        for split in [0, 1, 7, 8, 9, 63, 150, 299, 300] {
            let crc = data.withUnsafeBytes { b in
                CRC32C.update(CRC32C.update(0, UnsafeRawBufferPointer(rebasing: b[0..<split])),
                              UnsafeRawBufferPointer(rebasing: b[split...]))
            }
            XCTAssertEqual(crc, whole, "split at \(split)")
        }
        // Bit-at-a-time reference for every prefix length up to 40.
        for n in 0...40 {
            var c: UInt32 = 0xFFFF_FFFF
            for byte in data[0..<n] {
                c ^= UInt32(byte)
                for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            }
            XCTAssertEqual(CRC32C.checksum(Array(data[0..<n])), ~c, "length \(n)")
        }
    }
}
