// Recognises the files people most often mistake for a model (git-lfs pointers, saved web
// pages, PyTorch checkpoints, other formats) so the error says what the file really is.

enum FileSniffer {
    /// The specific error for a recognised non-`.ccm` file, or nil.
    static func identify(_ bytes: UnsafeRawBufferPointer, path: String) -> ModelFileError? {
        let head = Array(bytes.prefix(512))
        func starts(_ prefix: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + prefix.count && Array(head[offset..<(offset + prefix.count)]) == prefix
        }
        if starts(CCMFormatSpec.magic) { return nil }
        if starts(Array("version https://git-lfs.github.com/spec/".utf8)) { return .gitLFSPointer(path: path) }
        if looksLikeHTML(head) { return .htmlPage(path: path) }
        if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) { return .pytorchCheckpoint(path: path) }
        if head.count >= 2, head[0] == 0x80, (2...5).contains(head[1]) { return .pytorchCheckpoint(path: path) }
        if starts(Array("GGUF".utf8)) { return .foreignFormat(path: path, format: "GGUF") }
        if head.count >= 9, head[8] == UInt8(ascii: "{") {
            let n = head[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if n <= UInt64(bytes.count - 8) { return .foreignFormat(path: path, format: "safetensors") }
        }
        return nil
    }

    private static func looksLikeHTML(_ head: [UInt8]) -> Bool {
        var bytes = head[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        bytes = bytes.drop(while: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D })
        let text = String(decoding: bytes.prefix(16), as: UTF8.self).lowercased()
        return text.hasPrefix("<!doctype html") || text.hasPrefix("<html") || text.hasPrefix("<head")
            || text.hasPrefix("<!--") || text.hasPrefix("<?xml")
    }
}
