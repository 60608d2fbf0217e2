@testable import BulkCaption
import Engine
import XCTest

/// Crafted tar archives (tools/make_bulk_fixtures.py): every problem is a failure item of its
/// own, the good samples around it are still read, nothing is written anywhere.
final class HostileTarTests: XCTestCase {
    private func items(_ name: String, maxMemberBytes: Int = BulkInputs.defaultMaxMemberBytes) throws -> [BulkItem] {
        Array(try BulkInputs(arguments: [BulkFixtures.bulk("hostile/" + name)], maxMemberBytes: maxMemberBytes).items(of: .all))
    }

    private func failures(_ items: [BulkItem]) -> [String] {
        items.compactMap { if case .failure(let m) = $0.payload { return m }; return nil }
    }

    private func images(_ items: [BulkItem]) -> [String] {
        items.compactMap { if case .image = $0.payload { return $0.key }; return nil }
    }

    func testPathTraversalNamesAreReportedAndNeverUsed() throws {
        let all = try items("traversal.tar")
        XCTAssertEqual(images(all), ["good"])
        let problems = failures(all)
        XCTAssertEqual(problems.count, 3, "\(problems)")
        XCTAssertTrue(problems.allSatisfy { $0.contains("traversal.tar") && ($0.contains("'..'") || $0.contains("absolute")) }, "\(problems)")
    }

    func testAHugeDeclaredMemberIsRefusedWithoutReadingIt() throws {
        let all = try items("huge-member.tar")
        XCTAssertEqual(images(all), ["first"])
        let problems = failures(all)
        XCTAssertTrue(problems.contains { $0.contains("huge.jpg") && $0.contains("10737418240") && $0.contains("limit") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("truncated") }, "the archive ends inside the declared member: \(problems)")
    }

    func testTruncatedArchivesKeepWhatCameBeforeTheCut() throws {
        let all = try items("truncated.tar")
        XCTAssertEqual(images(all), ["one"])
        let problems = failures(all)
        XCTAssertEqual(problems.count, 2, "the cut member, then the archive: \(problems)")
        XCTAssertTrue(problems.last?.contains("truncated") ?? false, "\(problems)")
    }

    func testSamplesWithoutImagesLinksAndJunkAreItemErrors() throws {
        let all = try items("no-image.tar")
        XCTAssertEqual(all.map(\.key), ["a", "b", "c", "d"])
        XCTAssertEqual(images(all), ["c", "d"], "d.jpg is read: the engine refuses its bytes with its own message")
        let problems = failures(all)
        XCTAssertTrue(problems[0].contains("no .jpg, .jpeg or .png member") && problems[0].contains(".txt"), problems[0])
        XCTAssertTrue(problems[1].contains("not a regular file"), problems[1])
        let notTar = try items("not-a-tar.tar")
        XCTAssertEqual(notTar.count, 1)
        XCTAssertTrue(failures(notTar).first?.contains("cannot open the tar archive") ?? false, "\(failures(notTar))")
        let missing = Array(try BulkInputs(arguments: ["/nonexistent/x.tar"]).items(of: .all))
        XCTAssertEqual(failures(missing).count, 1)
    }

    func testTheMemberCapAppliesToTheBytesRead() throws {
        let all = try items("traversal.tar", maxMemberBytes: 100)
        XCTAssertEqual(images(all), [])
        XCTAssertTrue(failures(all).contains { $0.contains("good.png") && $0.contains("100-byte limit") }, "\(failures(all))")
    }
}
