/// GPT-2's `bytes_to_unicode` table: every byte gets a printable Unicode character so that
/// byte strings can be written as vocabulary strings.
///
/// Bytes `!`...`~`, `¡`...`¬` and `®`...`ÿ` stand for themselves; the other 68 bytes, in
/// increasing order, get U+0100, U+0101, ... (so the space 0x20 is "Ġ" U+0120 and the newline
/// 0x0A is "Ċ" U+010A).
enum ByteLevelAlphabet {
    /// `symbols[b]` is the character that stands for byte `b`.
    static let symbols: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if standsForItself(UInt8(byte)) {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// `bytesBySymbol[c]` is the byte that character `c` (below U+0144) stands for, or -1.
    private static let bytesBySymbol: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, symbol) in symbols.enumerated() { table[Int(symbol.value)] = Int16(byte) }
        return table
    }()

    private static func standsForItself(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }

    /// The byte that `symbol` stands for, or nil when it is not one of the 256 symbols.
    static func byte(for symbol: Unicode.Scalar) -> UInt8? {
        let value = Int(symbol.value)
        guard value < bytesBySymbol.count, bytesBySymbol[value] >= 0 else { return nil }
        return UInt8(bytesBySymbol[value])
    }

    /// The bytes a vocabulary token stands for. A token containing characters outside the
    /// alphabet (possible only for added tokens) stands for its own UTF-8 bytes, as in HF's
    /// ByteLevel decoder.
    static func bytes(of token: String) -> [UInt8] {
        var out: [UInt8] = []
        for scalar in token.unicodeScalars {
            guard let byte = byte(for: scalar) else { return Array(token.utf8) }
            out.append(byte)
        }
        return out
    }
}
