// libFuzzer target for the checkpoint reader (zip + safe unpickler + safetensors): every
// input is written to a file in /dev/shm (CheckpointReader maps files), read, and every
// tensor's bytes fetched, as `clipcapctl convert` does. Thrown errors are expected; crashes,
// traps, hangs and sanitizer reports are bugs.
import CFuzzDriver
import Foundation
import TorchFormats

let scratchPath = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
    + "/clipcap-fuzz-pt-\(getpid()).pt"

func writeScratch(_ data: UnsafeRawBufferPointer) -> Bool {
    guard let handle = fopen(scratchPath, "wb") else { return false }
    defer { fclose(handle) }
    return data.isEmpty || fwrite(data.baseAddress, 1, data.count, handle) == data.count
}

func exercise(_ data: UnsafeRawBufferPointer) {
    guard writeScratch(data) else { return }
    guard let contents = try? CheckpointReader.read(path: scratchPath) else { return }
    for tensor in contents.tensors { _ = try? tensor.bytes() }
}

let callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { bytes, size in
    exercise(UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : size))
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
