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

final class ReadmeExampleTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testReadmeExampleIsThisFile() throws {
        let readme = try String(contentsOf: Self.repo.appendingPathComponent("README.md"), encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let example = source.components(separatedBy: "// README-EXAMPLE-BEGIN\n")[1].components(separatedBy: "// README-EXAMPLE-END")[0]
        let block = readme.components(separatedBy: "```swift\nimport ClipCap\n\n")[1].components(separatedBy: "```")[0]
        XCTAssertEqual(block, example)
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
