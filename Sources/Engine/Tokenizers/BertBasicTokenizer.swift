/// BERT's BasicTokenizer: splits raw text into the words WordPiece then breaks into pieces.
///
/// Follows transformers' Python `BasicTokenizer.tokenize` step by step (the tokenizer the
/// seed ran): remove NUL, U+FFFD and control characters and turn whitespace into spaces;
/// put spaces around Chinese characters; NFC; split on whitespace; per word lower-case
/// (Python `str.lower`) and strip accents (NFD, drop Mn) when lower-casing; split off every
/// punctuation character as its own word.
///
/// Text made only of ASCII and CJK ideographs/punctuation (every caption) takes a fast path
/// that gives the same result without normalisation calls or per-word allocations.
struct BertBasicTokenizer: Sendable {
    let doLowerCase: Bool
    let tokenizeChineseChars: Bool

    /// Calls `body` with each word of `text`, in order.
    func forEachWord(in text: ArraySlice<Unicode.Scalar>, _ body: (ArraySlice<Unicode.Scalar>) -> Void) {
        var cleaned: [Unicode.Scalar] = []
        cleaned.reserveCapacity(text.count * 3)
        var allSimple = true
        for scalar in text {
            // Chinese characters (category Lo) are never controls or whitespace, so testing
            // them first (a range check) changes nothing but saves category lookups.
            if tokenizeChineseChars && BertCharacterClasses.isChineseChar(scalar) {
                cleaned.append(" ")
                cleaned.append(scalar)
                cleaned.append(" ")
                allSimple = allSimple && Self.isSimple(scalar)
                continue
            }
            if scalar.value == 0 || scalar.value == 0xFFFD || BertCharacterClasses.isControl(scalar) { continue }
            if BertCharacterClasses.isWhitespace(scalar) {
                cleaned.append(" ")
            } else {
                cleaned.append(scalar)
                allSimple = allSimple && Self.isSimple(scalar)
            }
        }
        if allSimple {
            // NFC, NFD and accent stripping are identities here; lower-casing is ASCII-only
            // and context-free, so it can run before the word split.
            if doLowerCase {
                for index in cleaned.indices where ("A"..."Z").contains(cleaned[index]) {
                    cleaned[index] = Unicode.Scalar(UInt8(truncatingIfNeeded: cleaned[index].value + 32))
                }
            }
            forEachWhitespaceWord(in: cleaned) { splitOnPunctuation($0, body) }
        } else {
            let normalized = UnicodeText.nfc(cleaned)
            forEachWhitespaceWord(in: normalized) { word in
                if doLowerCase {
                    let prepared = UnicodeText.strippingAccents(UnicodeText.pythonLowercased(Array(word)))
                    splitOnPunctuation(prepared[...], body)
                } else {
                    splitOnPunctuation(word, body)
                }
            }
        }
    }

    /// ASCII, CJK ideographs, ideographic punctuation and full-width forms other than the
    /// full-width capitals: unchanged by NFC, NFD, accent stripping and lower-casing.
    private static func isSimple(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0..<0x80, 0x3000...0x3029, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xFF01...0xFF20, 0xFF3B...0xFF60:
            return true
        default:
            return false
        }
    }

    /// Python's `str.split()` on the cleaned text.
    private func forEachWhitespaceWord(in text: [Unicode.Scalar], _ body: (ArraySlice<Unicode.Scalar>) -> Void) {
        var start = 0
        for index in 0...text.count where index == text.count || BertCharacterClasses.splitsWords(text[index]) {
            if start < index { body(text[start..<index]) }
            start = index + 1
        }
    }

    /// `_run_split_on_punc`: every punctuation character becomes a word of its own.
    private func splitOnPunctuation(_ word: ArraySlice<Unicode.Scalar>, _ body: (ArraySlice<Unicode.Scalar>) -> Void) {
        var start = word.startIndex
        for index in word.indices where BertCharacterClasses.isPunctuation(word[index]) {
            if start < index { body(word[start..<index]) }
            body(word[index...index])
            start = index + 1
        }
        if start < word.endIndex { body(word[start..<word.endIndex]) }
    }
}
