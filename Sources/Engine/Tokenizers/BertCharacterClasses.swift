/// Character predicates of HF's BERT BasicTokenizer (`_is_whitespace`, `_is_control`,
/// `_is_punctuation`, `_is_chinese_char` in transformers' tokenization_bert), evaluated on
/// Unicode scalars (Python iterates code points).
enum BertCharacterClasses {
    /// `_is_whitespace`: space, tab, newline, carriage return, or category Zs.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x20, 0x09, 0x0A, 0x0D: return true
        case 0..<0x80: return false
        default: return scalar.properties.generalCategory == .spaceSeparator
        }
    }

    /// `_is_control`: any category starting with "C" (Cc, Cf, Cs, Co, Cn) except tab, newline
    /// and carriage return, which BERT counts as whitespace.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: return false
        case 0..<0x20, 0x7F: return true
        case 0x20..<0x7F: return false
        default:
            switch scalar.properties.generalCategory {
            case .control, .format, .surrogate, .privateUse, .unassigned: return true
            default: return false
            }
        }
    }

    /// `_is_punctuation`: the four ASCII non-alphanumeric ranges (so `$`, `^`, `+`, `~` count)
    /// or any category starting with "P".
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let cp = scalar.value
        if (33...47).contains(cp) || (58...64).contains(cp) || (91...96).contains(cp) || (123...126).contains(cp) {
            return true
        }
        if cp < 0x80 || (0x4E00...0x9FFF).contains(cp) { return false }  // ideographs are Lo
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// `_is_chinese_char`: exactly the CJK Unified Ideograph blocks HF lists (Python's table;
    /// the Rust backend starts the sixth range at 0x2B920 instead of 0x2B820).
    static func isChineseChar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// Whitespace for Python's `str.split()` after cleaning: cleaning already turned Zs, tab,
    /// newline and carriage return into spaces and removed controls, so what is left is the
    /// space itself and the line/paragraph separators U+2028/U+2029.
    static func splitsWords(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// True when NFC cannot change a run made only of such scalars: below U+0300 (precomposed
    /// Latin letters are already NFC and nothing there composes), CJK unified ideographs (no
    /// decompositions, never composed), ideographic punctuation and full-width forms
    /// (compatibility mappings only). Lets the common caption skip Foundation's normaliser.
    static func isNFCInert(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0..<0x300, 0x3000...0x3029, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xFF01...0xFF60: return true
        default: return false
        }
    }

    /// True when NFD cannot change a run made only of such scalars: as `isNFCInert`, but only
    /// below U+00C0, since precomposed Latin letters (é, ñ, ...) decompose.
    static func isNFDInert(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0..<0xC0, 0x3000...0x3029, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xFF01...0xFF60: return true
        default: return false
        }
    }
}
