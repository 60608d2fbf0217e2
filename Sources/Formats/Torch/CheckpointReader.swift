/// Reads PyTorch and safetensors checkpoints without running any code from them.
public enum CheckpointReader {
    /// Detects the format from the file's bytes (never its extension) and reads it:
    /// `torch.save` zip archives (torch >= 1.6, including Hugging Face `pytorch_model.bin`),
    /// TorchScript archives (`torch.jit.save`, e.g. OpenAI's CLIP `.pt` files) and safetensors.
    /// Tensor data stays in the memory-mapped file until `SourceTensor.bytes()`.
    public static func read(path: String, limits: ReaderLimits = .init()) throws -> CheckpointContents {
        let file = try MappedFile(path: path)
        switch try FormatSniffer.sniff(file) {
        case .zip: return try TorchZipReader.read(file: file, limits: limits)
        case .safetensors: return try SafetensorsReader.read(file: file, limits: limits)
        }
    }
}

/// Recognises formats by their first bytes, and names the usual wrong files (git-lfs
/// pointers, HTML error pages, legacy pickles) so users learn what actually went wrong.
enum FormatSniffer {
    enum Format { case zip, safetensors }

    /// `torch.save`'s pre-1.6 files start with PROTO 2 and LONG1 of this magic number.
    private static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    static func sniff(_ file: MappedFile) throws -> Format {
        let path = file.path
        guard file.size > 0 else { throw CheckpointError.emptyFile(path: path) }
        let head = try file.bytes(0..<min(file.size, 512), what: "the file header")
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: [0x50, 0x4B, 0x05, 0x06])
            || head.starts(with: [0x50, 0x4B, 0x06, 0x06]) {
            return .zip
        }
        if head.starts(with: legacyMagic) { throw CheckpointError.legacyTorchFormat(path: path) }
        if head.starts(with: [0x89, 0x43, 0x43, 0x4D, 0x0D, 0x0A, 0x1A, 0x0A]) { throw CheckpointError.alreadyConverted(path: path) }
        if head.count >= 2, head[0] == 0x80, (2...5).contains(head[1]) { throw CheckpointError.barePickle(path: path) }
        if head.count >= 9, head[8] == UInt8(ascii: "{"), head[6] == 0, head[7] == 0 {
            return .safetensors   // an 8-byte length well under 2^48, then the JSON header
        }
        let text = String(decoding: head.prefix(200), as: UTF8.self)
        let trimmed = text.drop { $0 == "\u{FEFF}" || $0.isWhitespace }
        if trimmed.hasPrefix("version https://git-lfs.github.com/spec") { throw CheckpointError.gitLFSPointer(path: path) }
        let lower = trimmed.lowercased()
        if lower.hasPrefix("<!doctype html") || lower.hasPrefix("<html") || lower.hasPrefix("<head")
            || (lower.hasPrefix("<!--") && lower.contains("<html")) {
            throw CheckpointError.htmlPage(path: path)
        }
        if looksLikeText(head) {
            let start = trimmed.prefix(40).map { $0.isNewline ? " " : String($0) }.joined()
            throw CheckpointError.textFile(path: path, start: start)
        }
        let hex = head.prefix(8).map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined(separator: " ")
        throw CheckpointError.unknownFormat(path: path, firstBytes: hex)
    }

    /// Valid UTF-8 (allowing a cut at the end) without control characters other than whitespace.
    private static func looksLikeText(_ head: [UInt8]) -> Bool {
        guard !head.isEmpty else { return false }
        let controls = head.filter { $0 < 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }
        guard controls.isEmpty else { return false }
        let sample = head.count == 512 ? Array(head.prefix(500)) : head
        for cut in 0..<4 where sample.count > cut {
            if String(validating: sample.dropLast(cut), as: UTF8.self) != nil { return true }
        }
        return false
    }
}
