import ClipCap
import Foundation

// The README's library example, verbatim between the markers (tools/check_consumer.sh
// checks that the two copies are identical), run on the model and image given as arguments.
// README-EXAMPLE-BEGIN
func captionPhoto(model path: String, image: String) throws -> String {
    let model = try ClipCap.loadModel(path: path, options: LoadOptions(backend: "blas", threads: 2))
    var options = DecodingOptions(strategy: .beam(width: 3), numCandidates: 1, maxTokens: 30)
    options.seed = 1
    let result = try model.caption(imageAt: image, options: options)
    return result.captions[0].text
}
// README-EXAMPLE-END

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: CaptionExample MODEL.ccm IMAGE\n".utf8))
    exit(2)
}
do {
    print(try captionPhoto(model: arguments[1], image: arguments[2]))
} catch {
    FileHandle.standardError.write(Data("CaptionExample: \(error)\n".utf8))
    exit(1)
}
