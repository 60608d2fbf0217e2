import CCMFormat
import Foundation
import TestSupport
import XCTest

/// The traps of issue #15 through the command line: files whose every checksum is valid (written
/// by `ModelWriter` from the fixture model) but whose graphs or metadata lie. `caption` must
/// refuse each with one line naming the file — it used to die with SIGILL (exit 132).
final class CraftedGraphTests: XCTestCase {
    private func crafted(_ name: String, folder: String, _ edit: (inout Metadata, inout [ComputeGraph]) -> Void) throws -> String {
        try CraftedModel.write(from: try Fixtures.model(), to: folder + "/" + name + ".ccm", edit)
    }

    func testCaptionRefusesTheFormerTrapsWithOneLine() throws {
        let folder = try Fixtures.folder(for: self)
        let cases: [(String, [String], (inout Metadata, inout [ComputeGraph]) -> Void)] = [
            ("rank9-input", ["rank 9"], { _, g in
                let i = g.firstIndex { $0.name == "image_encoder" }!
                g[i].inputs[0].shape = Array(repeating: .fixed(1), count: 9)
            }),
            ("rank9-state", ["rank 9"], { _, g in
                let i = g.firstIndex { $0.name == "decoder" }!
                g[i].states[0].shape = Array(repeating: .fixed(2), count: 9)
            }),
            ("reshape-2-80", ["elements"], { _, g in
                let i = g.firstIndex { $0.name == "mapper" }!
                let n = g[i].nodes.lastIndex { $0.op == "reshape" }!
                g[i].nodes[n].attrs["shape"] = .ints([1 << 30, 1 << 30, 1 << 20])
            }),
            ("layers-1000", ["decoder.layers", "1000"], { m, _ in m["decoder.layers"] = .int(1000) }),
            ("mean-nan", ["image.mean"], { m, _ in m["image.mean"] = .floats([0.5, .nan, 0.5]) }),
        ]
        for (name, mentions, edit) in cases {
            let path = try crafted(name, folder: folder, edit)
            let result = try CLI.run(["caption", "--threads", "1", "--model", path, Fixtures.png], timeout: 60)
            assertRefused(result, naming: path, mentions: mentions)
            XCTAssertTrue(result.stdout.isEmpty, "\(name): \(result.stdout)")
        }
    }
}
