// libFuzzer target for the image decoders (JPEG through the setjmp shim, PNG, format
// sniffing, EXIF orientation) and CLIP preprocessing, entirely in memory. Limits are
// lowered so a declared-huge image is refused instead of spending the fuzzer's time.
import CFuzzDriver
import Foundation
import ImageIO

let limits: ImageLimits = {
    var limits = ImageLimits()
    limits.maxPixels = 4_000_000
    return limits
}()

func exercise(_ data: UnsafeRawBufferPointer) {
    guard let image = try? ImageDecoder.decode(data: Array(data), name: "fuzz-input", limits: limits) else { return }
    _ = CLIPPreprocessor(size: 32).process(image)
}

let callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { bytes, size in
    exercise(UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : size))
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
