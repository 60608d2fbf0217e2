import Foundation

/// Unicode operations on scalar arrays that must behave like Python's `str` methods.
enum UnicodeText {
    /// Python's `unicodedata.normalize("NFC", s)`.
    static func nfc(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        if scalars.allSatisfy(BertCharacterClasses.isNFCInert) { return scalars }
        return Array(string(scalars).precomposedStringWithCanonicalMapping.unicodeScalars)
    }

    /// Python's `unicodedata.normalize("NFD", s)`.
    static func nfd(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        if scalars.allSatisfy(BertCharacterClasses.isNFDInert) { return scalars }
        return Array(string(scalars).decomposedStringWithCanonicalMapping.unicodeScalars)
    }

    /// Python's `str.lower()`: the full lower-case mapping of every code point (İ becomes
    /// "i̇"), with capital sigma becoming final sigma ς when it ends a word (Python's
    /// Final_Sigma rule; Swift's `lowercased()` does not apply it).
    static func pythonLowercased(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        if scalars.allSatisfy(\.isASCII) {
            return scalars.map { ("A"..."Z").contains($0) ? Unicode.Scalar(UInt8(truncatingIfNeeded: $0.value + 32)) : $0 }
        }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count)
        for (index, scalar) in scalars.enumerated() {
            if scalar.value == 0x3A3 {
                out.append(isFinalSigma(at: index, in: scalars) ? "\u{3C2}" : "\u{3C3}")
            } else if scalar.isASCII || scalar.properties.changesWhenLowercased == false {
                out.append(("A"..."Z").contains(scalar) ? Unicode.Scalar(UInt8(truncatingIfNeeded: scalar.value + 32)) : scalar)
            } else {
                out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return out
    }

    /// Python's test: a cased letter (skipping case-ignorables) before, and no cased letter
    /// (skipping case-ignorables) after.
    private static func isFinalSigma(at index: Int, in scalars: [Unicode.Scalar]) -> Bool {
        var before = index - 1
        while before >= 0, scalars[before].properties.isCaseIgnorable { before -= 1 }
        guard before >= 0, scalars[before].properties.isCased else { return false }
        var after = index + 1
        while after < scalars.count, scalars[after].properties.isCaseIgnorable { after += 1 }
        return after == scalars.count || !scalars[after].properties.isCased
    }

    /// BERT's `_run_strip_accents`: NFD, then drop nonspacing marks (category Mn).
    static func strippingAccents(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        if scalars.allSatisfy(BertCharacterClasses.isNFDInert) { return scalars }
        return nfd(scalars).filter { $0.properties.generalCategory != .nonspacingMark }
    }

    /// A string holding exactly these scalars.
    static func string<S: Sequence>(_ scalars: S) -> String where S.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
