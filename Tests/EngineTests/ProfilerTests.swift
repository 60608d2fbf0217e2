import ClipCap
import Foundation
import XCTest

/// The profiler: its rows account for the run, the trace is valid, and it changes nothing.
final class ProfilerTests: XCTestCase {
    var dir = ""
    var model: CaptionModel!
    let image = RGBImage(width: 40, height: 36, pixels: TinyModel.pixels())

    override func setUpWithError() throws {
        ClipCap.registerStandardBackends()
        dir = TinyModel.temporaryDirectory()
        model = try CaptionModel.load(path: try TinyModel.write(to: dir + "/tiny.ccm"), options: LoadOptions(backend: "blas", threads: 1))
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testProfilingChangesNoOutput() throws {
        var options = DecodingOptions(maxTokens: 8)
        options.captureIntermediates = true
        let off = try model.caption(image: image, options: options)
        let on = try model.caption(image: image, options: options, profiler: Profiler())
        XCTAssertEqual(off.captions, on.captions)
        XCTAssertEqual(off.intermediates?.logits, on.intermediates?.logits)
    }

    func testRowsSumToTheRunWithinTenPercent() throws {
        // A model big enough that kernels, not bookkeeping, dominate (as in any real model).
        let dims = TinyModel.Dims(imageSize: 128, embed: 64, prefix: 4, width: 256, heads: 4, positions: 64, hidden: 1024)
        let model = try CaptionModel.load(path: try TinyModel.write(to: dir + "/bigger.ccm", dims: dims),
                                          options: LoadOptions(backend: "naive", threads: 1))
        var options = DecodingOptions(maxTokens: 12)
        options.minTokens = 12
        _ = try model.caption(image: image, options: options)
        let profiler = Profiler()
        var phaseTotal = 0.0
        for _ in 0..<3 {
            let r = try model.caption(image: image, options: options, profiler: profiler)
            phaseTotal += r.timings.imageEncoder + r.timings.mapper + r.timings.prefill + r.timings.decode
        }
        // Node time against the time of the phases that run nodes (preprocessing and image
        // decoding have no nodes and are reported as "outside").
        let report = ProfileReport(profiler: profiler, wallMs: phaseTotal, runs: 3)
        let byOpSum = report.byOp.reduce(0.0) { $0 + $1.totalMs }
        XCTAssertEqual(byOpSum, report.nodeMs, accuracy: 1e-6)
        XCTAssertLessThanOrEqual(report.nodeMs, phaseTotal * 1.0001)
        XCTAssertGreaterThanOrEqual(report.nodeMs, 0.90 * phaseTotal, "nodes account for \(report.nodeMs) of \(phaseTotal) ms")
        XCTAssertEqual(report.byOp.reduce(0) { $0 + $1.calls }, profiler.nodes.count)
        XCTAssertTrue(report.text().contains("outside any node"))
    }

    func testTraceIsValidJSONWithOneEventPerNode() throws {
        let profiler = Profiler()
        _ = try model.caption(image: image, options: DecodingOptions(maxTokens: 5), profiler: profiler)
        let data = try ChromeTrace.data(profiler)
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let events = try XCTUnwrap(doc["traceEvents"] as? [[String: Any]])
        let nodeEvents = events.filter { ($0["ph"] as? String) == "X" && ($0["cat"] as? String) != "phase" }
        XCTAssertEqual(nodeEvents.count, profiler.nodes.count)
        XCTAssertGreaterThan(nodeEvents.count, 0)
        let phaseEvents = events.filter { ($0["cat"] as? String) == "phase" }
        XCTAssertEqual(Set(phaseEvents.compactMap { $0["name"] as? String }).isSuperset(of: ["image_encoder", "mapper", "prefill"]), true)
        for e in nodeEvents {
            XCTAssertNotNil(e["ts"] as? Double); XCTAssertNotNil(e["dur"] as? Double); XCTAssertNotNil(e["tid"])
        }
        let svg = ProfileChart.svg(ProfileReport(profiler: profiler, wallMs: 1, runs: 1), title: "t")
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("image_encoder") && svg.hasSuffix("</svg>\n"))
    }
}
