import XCTest
@testable import CCMFormat
import TestSupport

/// Deterministic mutation testing of the reader: random damage to a valid file must give a
/// typed error or a file that opens; never a crash, a hang or an untyped error.
final class MutationTests: XCTestCase {
    func testTwoThousandRandomMutations() throws {
        let folder = try makeTemporaryFolder(self)
        let valid = try readBytes(try SampleModel.write(in: folder, name: "valid.ccm"))
        var rng = SplitMix64(seed: 0xC0FFEE)
        var opened = 0, refused: [String: Int] = [:]
        let path = folder + "/mutant.ccm"
        for round in 0..<2000 {
            var bytes = valid
            switch Int.random(in: 0..<6, using: &rng) {
            case 0, 1:   // flip a few bits
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
                }
            case 2:      // overwrite a few bytes with random values or extremes
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = [0, 0xFF, 0x7F, 0x80, UInt8.random(in: 0...255, using: &rng)].randomElement(using: &rng)!
                }
            case 3:      // truncate or extend
                let n = Int.random(in: 0..<bytes.count, using: &rng)
                bytes = Bool.random(using: &rng) ? Array(bytes[0..<n]) : bytes + Array(bytes[0..<min(n, 200)])
            default:     // damage then re-sign every checksum, so the structural checks are exercised
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    let at = Int.random(in: 0..<bytes.count, using: &rng)
                    bytes[at] = Bool.random(using: &rng) ? UInt8.random(in: 0...255, using: &rng) : bytes[at] ^ 0x80
                }
                var s = FileSurgery(bytes: bytes)
                s.resign()
                bytes = s.bytes
            }
            try writeBytes(bytes, to: path)
            do {
                let file = try ModelFile.open(path: path, options: OpenOptions(verifyTensorChecksumsOnFirstUse: round % 2 == 0))
                opened += 1
                for t in file.tensors { _ = try? file.bytes(of: t) }
                // The deeper paths are slower in debug builds; sample them.
                if opened % 4 == 0 { _ = file.verify() }
                if opened % 16 == 0 { _ = ModelInspector.describe(file, options: InspectOptions(listTensors: true)) }
            } catch let e as ModelFileError {
                refused[Mirror(reflecting: e).children.first?.label ?? "\(e)", default: 0] += 1
                XCTAssertFalse(e.description.isEmpty)
            } catch {
                XCTFail("round \(round): untyped error \(error)")
            }
        }
        print("mutations: \(opened) opened, refused by class: \(refused.sorted { $0.key < $1.key })")
        XCTAssertGreaterThan(refused.count, 8, "mutations should reach many different checks")
    }
}
