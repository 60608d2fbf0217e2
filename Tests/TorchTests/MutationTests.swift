import Foundation
import XCTest
@testable import TorchFormats
import TestSupport

/// A deterministic mutation test: thousands of random byte changes and truncations over the
/// fixtures. Every outcome must be a successful read or a `CheckpointError`; a crash or an
/// untyped error fails the run. Mutations are aimed at the structures (pickle, central
/// directory, headers) as well as at random places.
final class MutationTests: XCTestCase {
    /// SplitMix64 (TestSupport): small, fast and the same on every platform.
    typealias Random = SplitMix64

    /// Byte ranges worth hitting: the pickle and the directory of zips, the header of safetensors.
    func targets(_ path: String, size: Int) throws -> [Range<Int>] {
        var ranges = [0..<size, max(0, size - 1024)..<size]
        if let archive = try? ZipArchive(file: MappedFile(path: path), limits: ReaderLimits()) {
            for entry in archive.entries where entry.name.hasSuffix("data.pkl") || entry.name.hasSuffix("byteorder") {
                ranges.append(entry.localHeaderOffset..<(entry.dataOffset + entry.compressedSize))
            }
        } else if size > 8 {
            let bytes = try Fixtures.bytes(String(path.dropFirst(Fixtures.folder.path.count + 1)))
            let header = Int(bytes.littleEndian(at: 0, count: 8) ?? 0)
            ranges.append(0..<min(size, 8 + header))
        }
        return ranges.filter { !$0.isEmpty }
    }

    func testRandomMutationsNeverCrash() throws {
        let names = ["state_dict.pt", "hf-gpt2-bin/pytorch_model.bin", "hf-gpt2-safetensors/model.safetensors",
                     "clip_tiny_jit.pt", "big_endian.pt"]
        var random = Random(seed: 0xC11C_CA9)
        var outcomes: [String: Int] = [:]
        let perFile = 600
        for name in names {
            let original = try Fixtures.bytes(name)
            let ranges = try targets(Fixtures.path(name), size: original.count)
            for _ in 0..<perFile {
                var bytes = original
                switch random.below(10) {
                case 0:
                    bytes = Array(bytes.prefix(random.below(bytes.count)))
                case 1:
                    let cut = random.below(bytes.count)
                    bytes.removeSubrange(cut..<min(bytes.count, cut + 1 + random.below(64)))
                default:
                    let range = ranges[random.below(ranges.count)]
                    for _ in 0...random.below(4) {
                        let position = range.lowerBound + random.below(range.count)
                        bytes[position] = random.below(3) == 0 ? bytes[position] ^ (1 << UInt8(random.below(8)))
                                                               : UInt8(truncatingIfNeeded: random.next())
                    }
                }
                let path = try Fixtures.write(bytes, name: "mutant.bin")
                do {
                    let contents = try CheckpointReader.read(path: path)
                    for tensor in contents.tensors {
                        let data = try tensor.bytes()
                        XCTAssertEqual(data.count, tensor.byteCount, "\(name): \(tensor.name)")
                    }
                    outcomes["read", default: 0] += 1
                } catch let error as CheckpointError {
                    outcomes[caseName(error), default: 0] += 1
                } catch {
                    XCTFail("\(name): untyped error \(error)")
                }
            }
        }
        XCTAssertEqual(outcomes.values.reduce(0, +), names.count * perFile)
        print("mutation outcomes:", outcomes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }

    func caseName(_ error: CheckpointError) -> String {
        Mirror(reflecting: error).children.first?.label ?? "?"
    }
}
