@testable import BulkCaption
import XCTest

/// Folders, lists, manifests in every format, and the deterministic split into shards.
final class InputTests: XCTestCase {
    private let images = ["rgb.png", "rgb_q90_420.jpg", "gray.jpg", "wide_303x224.jpg", "tall_100x333.png", "progressive.jpg"]

    private func files(_ items: ShardItems) -> [(key: String, file: String)] {
        items.map { item in
            if case .failure(let message) = item.payload { XCTFail("unexpected failure item: \(message)") }
            return (item.key, item.file)
        }
    }

    func testEveryManifestFormatListsTheSameImagesWithTheirKeys() throws {
        let expected = images.map { BulkFixtures.bulk("../images/synthetic/" + $0) }
        let keys = (0..<images.count).map { "img-\($0)" }
        let txt = files(try BulkInputs(arguments: [BulkFixtures.bulk("manifest.txt")]).items(of: .all))
        XCTAssertEqual(txt.map(\.file), expected)
        XCTAssertEqual(txt.map(\.key), images.map { "../images/synthetic/" + $0 }, "without a key column the key is the path as written")
        let tsv = files(try BulkInputs(arguments: [BulkFixtures.bulk("manifest.tsv")]).items(of: .all))
        XCTAssertEqual(tsv.map(\.file), expected)
        XCTAssertEqual(tsv.map(\.key), keys)
        let csv = files(try BulkInputs(arguments: [BulkFixtures.bulk("manifest.csv")]).items(of: .all))
        XCTAssertEqual(csv.map(\.file), expected, "the 'filepath' column is found by default")
        var csvKeys = keys
        csvKeys[2] = "img-2, \"quoted\""
        XCTAssertEqual(csv.map(\.key), csvKeys)
        let jsonl = files(try BulkInputs(arguments: [BulkFixtures.bulk("manifest.jsonl")], columns: ManifestColumns(path: "image", key: "id")).items(of: .all))
        XCTAssertEqual(jsonl.map(\.file), expected)
        XCTAssertEqual(jsonl.map(\.key), keys)
        let jsonlDefault = files(try BulkInputs(arguments: [BulkFixtures.bulk("manifest.jsonl")]).items(of: .all))
        XCTAssertEqual(jsonlDefault.map(\.file), expected, "'image' is a default path name")
    }

    func testManifestProblemsAreClearErrorsBeforeAnyWork() throws {
        XCTAssertThrowsError(try BulkInputs(arguments: [BulkFixtures.bulk("manifest.tsv")], columns: ManifestColumns(path: "nope"))) { error in
            XCTAssertTrue("\(error)".contains("manifest.tsv") && "\(error)".contains("'nope'"), "\(error)")
        }
        XCTAssertThrowsError(try BulkInputs(arguments: [BulkFixtures.bulk("manifest.txt")], columns: ManifestColumns(key: "id")))
        XCTAssertThrowsError(try BulkInputs(arguments: ["/nonexistent/manifest.csv"])) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/manifest.csv"), "\(error)")
        }
        let folder = try BulkFixtures.folder(for: self)
        try BulkFixtures.touch(folder + "/bad.jsonl", "{\"path\": \"a.png\"}\nnot json\n{\"other\": 1}\n")
        let items = Array(try BulkInputs(arguments: [folder + "/bad.jsonl"]).items(of: .all))
        XCTAssertEqual(items.count, 3)
        guard case .image = items[0].payload, case .failure(let second) = items[1].payload, case .failure(let third) = items[2].payload else {
            return XCTFail("expected an image then two row errors")
        }
        XCTAssertTrue(second.contains("row 2"), second)
        XCTAssertTrue(third.contains("row 3"), third)
    }

    func testFoldersAreRecursiveFollowLinksAndSkipHiddenAndSidecarFiles() throws {
        let root = try BulkFixtures.folder(for: self)
        let outside = try BulkFixtures.folder(for: self)
        for path in ["b.jpg", "a/c.PNG", "a/deep/d.jpeg", ".hidden.jpg", "._b.jpg", ".cache/e.jpg", "__MACOSX/f.jpg", "Thumbs.db", "notes.txt", "a/g.gif"] {
            try BulkFixtures.touch(root + "/" + path)
        }
        try BulkFixtures.touch(outside + "/linked.jpg")
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: root + "/a/loop", withDestinationPath: root + "/a")
        try FileManager.default.createSymbolicLink(atPath: root + "/dangling.jpg", withDestinationPath: root + "/missing")
        let listing = try FolderListing(folder: root)
        XCTAssertEqual(listing.images, ["a/c.PNG", "a/deep/d.jpeg", "b.jpg", "link/linked.jpg"].map { root + "/" + $0 })
        XCTAssertEqual(listing.unsupported, ["a/g.gif", "dangling.jpg", "notes.txt"].map { root + "/" + $0 })
    }

    func testListsAndBracePatternsResolve() throws {
        let folder = try BulkFixtures.folder(for: self)
        try BulkFixtures.touch(folder + "/list.txt", "one.jpg\n\n two.png\nsub/three.jpg\n")
        let listed = files(try BulkInputs(arguments: ["@" + folder + "/list.txt"]).items(of: .all))
        XCTAssertEqual(listed.map(\.file), ["one.jpg", " two.png", "sub/three.jpg"])
        let inputs = try BulkInputs(arguments: [BulkFixtures.bulk("webdataset/shard-{00000..00001}.tar")])
        XCTAssertEqual(inputs.sources, [.tar(path: BulkFixtures.bulk("webdataset/shard-00000.tar")), .tar(path: BulkFixtures.bulk("webdataset/shard-00001.tar"))])
    }

    func testShardsPartitionTheInputsTheSameWayEveryTime() throws {
        let paths = (0..<23).map { "img\($0).jpg" }
        let inputs = try BulkInputs(arguments: paths)
        for n in [1, 2, 3, 7, 30] {
            var seen: [String] = []
            for i in 0..<n {
                let shard = ShardSelection(count: n, index: i)
                let part = files(inputs.items(of: shard)).map(\.file)
                XCTAssertEqual(part, files(inputs.items(of: shard)).map(\.file), "the same shard twice")
                XCTAssertEqual(inputs.count(in: shard), part.count)
                seen += part
            }
            XCTAssertEqual(seen.sorted(), paths.sorted(), "\(n) shards hold every input exactly once")
        }
        // Resuming skips exactly the items already done.
        let shard = ShardSelection(count: 3, index: 1)
        XCTAssertEqual(files(inputs.items(of: shard, skipping: 3)).map(\.file), Array(files(inputs.items(of: shard)).map(\.file).dropFirst(3)))
    }

    func testTarSamplesAreSplitWholeOrRoundRobinAndNeverTwice() throws {
        let pattern = BulkFixtures.bulk("webdataset/shard-{00000..00001}.tar")
        let inputs = try BulkInputs(arguments: [pattern, BulkFixtures.synthetic("gray.png")])
        let all = files(inputs.items(of: .all))
        XCTAssertEqual(all.count, 13)
        XCTAssertEqual(all.first?.key, "000000")
        XCTAssertEqual(all.first?.file, BulkFixtures.bulk("webdataset/shard-00000.tar") + "/000000.png")
        for n in [2, 3, 5] {
            var seen: [String] = []
            for i in 0..<n { seen += files(inputs.items(of: ShardSelection(count: n, index: i))).map(\.file) }
            XCTAssertEqual(seen.sorted(), all.map(\.file).sorted(), "\(n) shards")
        }
        // Two archives, two shards: each shard reads only its own archive.
        let first = files(inputs.items(of: ShardSelection(count: 2, index: 0))).map(\.file)
        XCTAssertTrue(first.prefix(6).allSatisfy { $0.contains("shard-00000.tar/") }, "\(first)")
        XCTAssertFalse(first.contains { $0.contains("shard-00001.tar/") }, "\(first)")
    }
}
