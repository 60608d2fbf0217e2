import ClipCap
import Foundation
import XCTest

// The README's Swift example, verbatim between the markers: this file compiling is what keeps
// the README honest, and the test below checks the two copies are identical.
// README-EXAMPLE-BEGIN
func captionPhoto(model path: String, image: String) throws -> String {
    let model = try ClipCap.loadModel(path: path, options: LoadOptions(backend: "blas", threads: 2))
    var options = DecodingOptions(strategy: .beam(width: 3), numCandidates: 1, maxTokens: 30)
    options.seed = 1
    let result = try model.caption(imageAt: image, options: options)
    return result.captions[0].text
}
// README-EXAMPLE-END

// README-BATCH-EXAMPLE-BEGIN
func captionFolder(model path: String, images: [String]) async throws -> [String] {
    let model = try ClipCap.loadModel(path: path, options: LoadOptions(backend: "blas", batchSize: 8))
    // All at once, results in input order; a bad image is its own failure.
    let outcomes = model.captions(for: images, options: DecodingOptions(maxTokens: 20))
    var texts = outcomes.map { (try? $0.result.get().captions[0].text) ?? "" }
    // Any sequence, streamed in input order with bounded memory; options may differ per request.
    let requests = images.map { CaptionRequest.file($0, options: DecodingOptions(strategy: .beam(width: 3))) }
    for await outcome in model.captionStream(requests) {
        if case .success(let result) = outcome.result { texts[outcome.index] += " / " + result.captions[0].text }
    }
    return texts
}
// README-BATCH-EXAMPLE-END

final class ReadmeExampleTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testReadmeExampleIsThisFile() throws {
        let readme = try String(contentsOf: Self.repo.appendingPathComponent("README.md"), encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let example = source.components(separatedBy: "// README-EXAMPLE-BEGIN\n")[1].components(separatedBy: "// README-EXAMPLE-END")[0]
        let block = readme.components(separatedBy: "```swift\nimport ClipCap\n\n")[1].components(separatedBy: "```")[0]
        XCTAssertEqual(block, example)
    }

    func testReadmeBatchExampleIsThisFile() throws {
        let readme = try String(contentsOf: Self.repo.appendingPathComponent("README.md"), encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let example = source.components(separatedBy: "// README-BATCH-EXAMPLE-BEGIN\n")[1].components(separatedBy: "// README-BATCH-EXAMPLE-END")[0]
        let block = readme.components(separatedBy: "```swift\nfunc captionFolder")[1].components(separatedBy: "```")[0]
        XCTAssertEqual("func captionFolder" + block, example)
    }

    func testReadmeBatchExampleRuns() async throws {
        let dir = TinyModel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try TinyModel.write(to: dir + "/tiny.ccm")
        let folder = Self.repo.appendingPathComponent("Tests/Fixtures/images/synthetic").path
        let pngs = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted().filter { $0.hasSuffix(".png") }
        guard pngs.count >= 3 else { throw XCTSkip("PNG fixtures not found") }
        let images = pngs.prefix(5).map { folder + "/" + $0 } + [dir + "/missing.png"]
        let texts = try await captionFolder(model: path, images: images)
        XCTAssertEqual(texts.count, images.count)
        XCTAssertTrue(texts.dropLast().allSatisfy { $0.contains(" / ") }, "\(texts)")
        XCTAssertEqual(texts.last, "", "the missing file fails alone")
    }

    func testReadmeExampleRuns() throws {
        let dir = TinyModel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try TinyModel.write(to: dir + "/tiny.ccm")
        let png = Self.repo.appendingPathComponent("Tests/Fixtures/images/synthetic").path
        guard let image = (try? FileManager.default.contentsOfDirectory(atPath: png))?.sorted().first(where: { $0.hasSuffix(".png") }) else {
            throw XCTSkip("no PNG fixture found")
        }
        let text = try captionPhoto(model: path, image: png + "/" + image)
        XCTAssertFalse(text.contains("[UNK]"))
    }
}
