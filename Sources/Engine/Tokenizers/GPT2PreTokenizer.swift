/// GPT-2's pre-tokenisation regex, written as a scanner over Unicode scalars:
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// with the semantics of Python's `regex` module and HF's Rust pre-tokenizer: alternatives
/// tried in order at each position, `\s` = the Unicode White_Space property, `\p{L}` and
/// `\p{N}` = the general categories L* and N*, the optional prefix is the ASCII space only.
enum GPT2PreTokenizer {
    private enum Kind: Equatable { case letter, number, whitespace, other }

    /// The consecutive pieces of `text` (they cover it entirely), as index ranges.
    static func pieces(of text: ArraySlice<Unicode.Scalar>) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        let end = text.endIndex
        var index = text.startIndex
        while index < end {
            let length = contractionLength(at: index, in: text)
                ?? prefixedRunLength(at: index, in: text)
                ?? plainRunLength(at: index, in: text)
            pieces.append(index..<(index + length))
            index += length
        }
        return pieces
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` (case-sensitive).
    private static func contractionLength(at index: Int, in text: ArraySlice<Unicode.Scalar>) -> Int? {
        guard text[index] == "'", index + 1 < text.endIndex else { return nil }
        switch text[index + 1] {
        case "s", "t", "m", "d":
            return 2
        case "r", "v", "l":
            guard index + 2 < text.endIndex else { return nil }
            let pair = (text[index + 1], text[index + 2])
            return pair == ("r", "e") || pair == ("v", "e") || pair == ("l", "l") ? 3 : nil
        default:
            return nil
        }
    }

    /// ` \p{L}+`, ` \p{N}+` or ` [^\s\p{L}\p{N}]+`: a space followed by a run of one kind.
    private static func prefixedRunLength(at index: Int, in text: ArraySlice<Unicode.Scalar>) -> Int? {
        guard text[index] == " ", index + 1 < text.endIndex else { return nil }
        let kind = kind(of: text[index + 1])
        guard kind != .whitespace else { return nil }
        return 1 + runLength(of: kind, from: index + 1, in: text)
    }

    /// `\p{L}+`, `\p{N}+`, `[^\s\p{L}\p{N}]+`, or for whitespace `\s+(?!\S)|\s+`: a whitespace
    /// run gives up its last character when a non-space follows, so that the character can
    /// prefix the next word; a single whitespace before a non-space is its own piece.
    private static func plainRunLength(at index: Int, in text: ArraySlice<Unicode.Scalar>) -> Int {
        let kind = kind(of: text[index])
        let run = runLength(of: kind, from: index, in: text)
        guard kind == .whitespace, index + run < text.endIndex, run > 1 else { return run }
        return run - 1
    }

    private static func runLength(of kind: Kind, from start: Int, in text: ArraySlice<Unicode.Scalar>) -> Int {
        var end = start
        while end < text.endIndex, self.kind(of: text[end]) == kind { end += 1 }
        return end - start
    }

    private static func kind(of scalar: Unicode.Scalar) -> Kind {
        switch scalar.value {
        case 0x41...0x5A, 0x61...0x7A: return .letter
        case 0x30...0x39: return .number
        case 0x09...0x0D, 0x20: return .whitespace
        case 0..<0x80: return .other
        default: break
        }
        if scalar.properties.isWhitespace { return .whitespace }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }
}
