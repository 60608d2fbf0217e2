// libFuzzer target for the `.ccm` reader: every input gets its checksums recomputed
// (Reseal.swift, so mutations reach past the CRC checks), is written to a file in /dev/shm
// (ModelFile reads files through mmap; it has no in-memory entry point), opened, then every
// tensor is decoded and the whole file verified — the paths `inspect`, `caption` and
// `verify` take — and its graphs and metadata go through the engine's validation at load
// (GraphValidator, then CaptionModel.load on the reference backend: planning, the memory
// check, kernel building). Any crash, trap or sanitizer report is a bug; thrown errors are
// expected.
import CCMFormat
import CFuzzDriver
import ClipCap
import Foundation
import Ops

ClipCap.registerStandardBackends()

/// One scratch file per fuzzing process (libFuzzer's -jobs/-fork run several).
let scratchPath = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
    + "/clipcap-fuzz-ccm-\(getpid()).ccm"

func writeScratch(_ data: UnsafeRawBufferPointer) -> Bool {
    guard let handle = fopen(scratchPath, "wb") else { return false }
    defer { fclose(handle) }
    return data.isEmpty || fwrite(data.baseAddress, 1, data.count, handle) == data.count
}

func exercise(_ data: UnsafeRawBufferPointer) {
    var bytes = Array(data)
    Reseal.apply(&bytes)
    guard bytes.withUnsafeBytes({ writeScratch($0) }) else { return }
    guard let model = try? ModelFile.open(path: scratchPath, options: .init(verifyTensorChecksumsOnFirstUse: false)) else { return }
    for entry in model.tensors { _ = try? model.bytes(of: entry) }
    _ = model.verify()
    _ = ModelInspector.json(model, options: InspectOptions(listTensors: true, graph: model.graphs.first?.name))
    guard (try? GraphValidator.validate(model)) != nil else { return }
    _ = try? CaptionModel.load(path: scratchPath, options: LoadOptions(backend: "naive", threads: 1, verifyChecksums: false, maxBatch: 2, maxTokens: 4))
}

let callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { bytes, size in
    exercise(UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : size))
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
