import CCMFormat
import ClipCap
@testable import Engine
import Foundation
import XCTest

/// `WeightStages` on the shipped demo model's image encoder, cut into small stages: every page
/// a stage maps holds only tensors that stage starts reading, and every page a stage releases
/// holds no tensor a later stage still reads (releasing it early would only cost a page fault,
/// but would defeat the streaming).
final class WeightStagesTests: XCTestCase {
    func loadDemo(stageBytes: Int) throws -> CaptionModel {
        ClipCap.registerStandardBackends()
        let path = DemoModelTests.models + "/demo.ccm"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) not present") }
        var options = LoadOptions(backend: "blas", threads: 1, maxTokens: 32)
        options.encoderStageBytes = stageBytes
        return try CaptionModel.load(path: path, options: options)
    }

    func testStagesMapEachTensorOnceAndReleaseNothingStillNeeded() throws {
        let model = try loadDemo(stageBytes: 128 << 10)
        let stages = try XCTUnwrap(model.encoderStages)
        let byNode = model.imageEncoder.weightNamesByNode
        XCTAssertGreaterThan(stages.count, 5, "128 KiB stages of a ~3 MiB encoder")
        XCTAssertEqual(stages.firstNode.first, 0)
        XCTAssertEqual(stages.firstNode, stages.firstNode.sorted())
        XCTAssertEqual(Set(stages.firstNode).count, stages.count)

        func stage(of node: Int) -> Int { stages.firstNode.lastIndex { $0 <= node }! }
        var first: [String: Int] = [:], last: [String: Int] = [:]
        for (n, names) in byNode.enumerated() {
            for name in names { first[name] = first[name] ?? stage(of: n); last[name] = stage(of: n) }
        }
        func span(_ name: String) -> Range<Int> {
            let t = model.file.tensor(named: name)!
            return t.offset..<(t.offset + t.storedLength)
        }
        var mappedBytes = 0
        for s in 0..<stages.count {
            for range in stages.mapAtStart[s].ranges {
                mappedBytes += range.count
                for (name, f) in first where span(name).overlaps(range) {
                    XCTAssertEqual(f, s, "stage \(s) maps a page of \(name), first read in stage \(f)")
                }
            }
            for range in stages.releaseAtEnd[s].ranges {
                for (name, l) in last where span(name).overlaps(range) {
                    XCTAssertEqual(l, s, "stage \(s) releases a page of \(name), still read in stage \(l)")
                }
                for name in model.mapper.weightNames.union(model.decoder.weightNames) {
                    XCTAssertFalse(span(name).overlaps(range), "stage \(s) releases a page of \(name)")
                }
            }
        }
        let encoderBytes = model.imageEncoder.weightNames.reduce(0) { $0 + span($1).count }
        XCTAssertGreaterThan(mappedBytes, encoderBytes / 2, "most of the encoder is mapped by its stages")
        XCTAssertLessThanOrEqual(mappedBytes, encoderBytes)
    }

    func testOneStageWhenTheStageHoldsTheWholeEncoder() throws {
        let model = try loadDemo(stageBytes: 1 << 30)
        XCTAssertEqual(model.encoderStages?.count, 1)
        XCTAssertEqual(model.encoderStages?.firstNode, [0])
    }
}
