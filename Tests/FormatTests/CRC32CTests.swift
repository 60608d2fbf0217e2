import Foundation
import XCTest
@testable import CCMFormat
import TestSupport

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

    /// Bit-at-a-time reference CRC32C.
    private func reference(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        }
        return ~c
    }

    /// The hardware path's three-stream blocks (24 KiB and more) and the CRC combination used
    /// to join slices checked on several threads must give the reference value.
    func testLongBuffersAndCombinedSlicesMatchTheReference() {
        var rng = SplitMix64(seed: 11)
        let data = (0..<100_003).map { _ in UInt8.random(in: 0...255, using: &rng) }
        XCTAssertEqual(CRC32C.checksum(data), reference(data[...]))
        for split in [0, 1, 4096, 24_576, 50_000, 99_999, 100_003] {
            let a = CRC32C.checksum(Array(data[0..<split])), b = CRC32C.checksum(Array(data[split...]))
            XCTAssertEqual(CRC32C.combine(a, b, lengthOfB: data.count - split), reference(data[...]), "split at \(split)")
        }
    }

    /// `verifyChecksums(of:parallel:)` cuts tensors into slices: any slice size gives the same verdict.
    func testParallelVerificationFindsTheCorruptTensorAtEverySliceSize() throws {
        let dir = NSTemporaryDirectory() + "crc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var writer = ModelWriter(metadata: Metadata(), graphs: [], tokenizer: nil)
        for (i, n) in [5, 20_000, 70_001].enumerated() {
            writer.add(TensorSource(name: "t\(i)", shape: [n], floats: (0..<n).map { Float($0 % 97) }))
        }
        let path = dir + "/m.ccm"
        try writer.write(to: path)
        let good = try ModelFile.open(path: path)
        for slice in [4096, 65_536, 1 << 22] {
            let fresh = try ModelFile.open(path: path)
            XCTAssertNoThrow(try fresh.verifyChecksums(of: fresh.tensors, sliceBytes: slice) { n, body in for i in 0..<n { body(i) } })
            XCTAssertTrue(fresh.tensors.allSatisfy(fresh.isChecked))
        }
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        let victim = good.tensors[2]
        bytes[victim.offset + victim.storedLength - 3] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        for slice in [4096, 65_536, 1 << 22] {
            let damaged = try ModelFile.open(path: path)
            XCTAssertThrowsError(try damaged.verifyChecksums(of: damaged.tensors, sliceBytes: slice) { n, body in
                for i in (0..<n).reversed() { body(i) }   // any order: slices are joined by position
            }) { error in
                XCTAssertTrue("\(error)".contains("t2"), "\(error)")
            }
        }
    }
}
