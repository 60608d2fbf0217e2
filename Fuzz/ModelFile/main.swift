// libFuzzer target for the `.ccm` reader: every input gets its checksums recomputed
// (Reseal.swift, so mutations reach past the CRC checks), is written to a file in /dev/shm
// (ModelFile reads files through mmap; it has no in-memory entry point), opened, then every
// tensor is decoded and the whole file verified — the paths `inspect`, `caption` and
// `verify` take — and its graphs go through the validation every load runs (GraphValidator,
// Sources/Engine/Ops: bounds, overflow-checked shape arithmetic, attribute ranges). Any crash,
// trap or sanitizer report is a bug; thrown errors are expected.
import CCMFormat
import CFuzzDriver
import Foundation
import Ops

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
    _ = try? GraphValidator.validate(model)
}

let callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { bytes, size in
    exercise(UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : size))
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
