import ClipCap
import Foundation
import XCTest

/// One model against the PyTorch references a fixture script wrote: image embedding and prefix
/// cosine >= 0.99999, logits max abs error <= 1e-3 at every greedy step, identical greedy ids.
struct ReferenceCheck {
    /// Reference file for (image, kind), e.g. `kind` "greedy_ids" -> `.../NAME.IMAGE.greedy_ids.npy`.
    var reference: (_ image: String, _ kind: String) -> String
    var images: [String]
    var imageFolder: String

    func check(model path: String, backend: String, label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try CaptionModel.load(path: path, options: LoadOptions(backend: backend, threads: 2, maxTokens: 40))
        for image in images {
            let ids = try NPY.read(reference(image, "greedy_ids")).values.map { Int($0) }
            let refLogits = try NPY.read(reference(image, "logits"))
            var options = DecodingOptions(strategy: .greedy, maxTokens: ids.count)
            options.captureIntermediates = true
            let result = try model.caption(imageAt: imageFolder + "/\(image).jpg", options: options)
            let inter = try XCTUnwrap(result.intermediates)
            let embedding = try NPY.read(reference(image, "image_embedding")).values
            let prefix = try NPY.read(reference(image, "prefix_embeddings")).values
            let what = "\(label) on \(backend), \(image)"
            XCTAssertGreaterThanOrEqual(cosine(inter.imageEmbedding.map(Double.init), embedding), 0.99999, "image embedding, \(what)", file: file, line: line)
            XCTAssertGreaterThanOrEqual(cosine(inter.prefixEmbeddings.map(Double.init), prefix), 0.99999, "prefix, \(what)", file: file, line: line)
            // Greedy ids: identical (the reference stops at a stop token exactly as we do).
            XCTAssertEqual(result.captions[0].tokenIDs, Array(ids.prefix(result.captions[0].tokenIDs.count)), "greedy ids, \(what)", file: file, line: line)
            let vocab = refLogits.shape.last ?? 0
            let steps = min(inter.logits.count, refLogits.shape.first ?? 0)
            XCTAssertGreaterThan(steps, 0, what, file: file, line: line)
            var maxError = 0.0
            for s in 0..<steps {
                for v in 0..<vocab { maxError = max(maxError, abs(Double(inter.logits[s][v]) - refLogits.values[s * vocab + v])) }
            }
            XCTAssertLessThanOrEqual(maxError, 1e-3, "logits max abs error, \(what)", file: file, line: line)
        }
    }
}
