import Foundation
import XCTest

/// `caption --jobs N` runs N sessions on one shared model: the output (captions, token ids
/// and scores; not timings) must not depend on N, and must come in input order. The default
/// (batched, one session) gives the same captions and ids; its scores may differ in the last
/// float digits (batched products sum in another order).
final class ConcurrencyTests: XCTestCase {
    /// Twelve different images (JPEG and PNG, colour, grey, palette, 16-bit, EXIF-rotated).
    static let images = [
        "rgb.png", "rgb_q90_420.jpg", "rgb_q95_444.jpg", "rgb_q85_422.jpg", "gray.png", "gray.jpg",
        "palette_4bit.png", "rgba16.png", "progressive.jpg", "exif_orientation_6.jpg", "wide_303x224.jpg", "tall_100x333.png",
    ]

    /// The JSON lines with the timing fields (and with `scores: false`, the scores) removed, so
    /// runs can be compared exactly.
    private func stableLines(_ stdout: String, scores: Bool = true) throws -> [String] {
        try stdout.split(separator: "\n").map { line in
            guard var object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw FixtureError(message: "not a JSON object: \(line)")
            }
            object["timings_ms"] = nil
            if !scores { object["scores"] = nil }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// Threads per session are `--threads / --jobs`; both runs of a pair keep them at one, so
    /// only the concurrency differs, not the arithmetic.
    func testJobsFourGivesTheSameOutputAsJobsOne() throws {
        let folder = try Fixtures.folder(for: self)
        for name in Self.images {
            try FileManager.default.copyItem(atPath: Fixtures.path("images/synthetic/" + name), toPath: folder + "/" + name)
        }
        let model = try Fixtures.model()
        func run(_ arguments: [String], scores: Bool = true) throws -> [String] {
            // --batch 1: the one-image path, as --jobs N runs it.
            let result = try CLI.run(["caption", "--model", model, "--json", "--batch", "1"] + arguments + [folder], timeout: 300)
            assertSucceeded(result)
            return try stableLines(result.stdout, scores: scores)
        }
        let serial = try run(["--jobs", "1", "--threads", "1"])
        XCTAssertEqual(try run(["--batch", "5", "--threads", "1"], scores: false), try run(["--jobs", "1", "--threads", "1"], scores: false),
                       "batched captions differ from the one-image path's")
        XCTAssertEqual(serial.count, Self.images.count)
        let expectedOrder = Self.images.sorted().map { folder + "/" + $0 }
        XCTAssertEqual(serial.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["file"] as? String
        }, expectedOrder, "results are not in input order")
        XCTAssertEqual(try run(["--jobs", "4", "--threads", "4"]), serial, "--jobs 4 differs from --jobs 1")
        XCTAssertEqual(try run(["--jobs", "4", "--threads", "4", "--backend", "naive"]), try run(["--jobs", "1", "--threads", "1", "--backend", "naive"]))
        // Beam search keeps several sequences per session: the same must hold.
        XCTAssertEqual(try run(["--jobs", "3", "--threads", "3", "--decode", "beam", "--beams", "3", "--num", "2"]),
                       try run(["--jobs", "1", "--threads", "1", "--decode", "beam", "--beams", "3", "--num", "2"]))
        assertFolder(folder, holds: Self.images)
    }
}
