/// A dictionary key that compares strings by their exact code points.
///
/// Swift's `String` equality and hashing follow canonical equivalence ("é" == "e\u{301}"),
/// but vocabularies, like Python dicts, distinguish the two spellings. Keys are compared
/// through their UTF-8 bytes instead.
struct ExactString: Hashable, Sendable {
    let value: String

    init(_ value: String) { self.value = value }

    static func == (lhs: ExactString, rhs: ExactString) -> Bool {
        lhs.value.utf8.elementsEqual(rhs.value.utf8)
    }

    func hash(into hasher: inout Hasher) {
        for byte in value.utf8 { hasher.combine(byte) }
    }
}

/// Token string <-> id tables built once from the ordered vocabulary.
struct VocabularyTable: Sendable {
    let tokens: [String]
    /// Tokens of at most 15 UTF-8 bytes (nearly all of them), for fast lookups.
    private let shortIDs: PackedTokenIndex
    /// The longer tokens.
    private let longIDs: [ExactString: Int]
    /// Longest token, in Unicode scalars: no lookup of a longer string can succeed.
    let longestTokenScalars: Int

    /// Builds the tables. Errors name `file` and the line `lineNumbers[i]` (default: i + 1).
    init(tokens: [String], file: String, lineNumbers: [Int]? = nil) throws {
        guard !tokens.isEmpty else { throw TokenizerError.emptyVocabulary(file: file) }
        var shortIDs = PackedTokenIndex(minimumCapacity: tokens.count)
        var longIDs: [ExactString: Int] = [:]
        var longest = 0
        for (index, token) in tokens.enumerated() {
            let line = lineNumbers?[index] ?? index + 1
            if token.isEmpty { throw TokenizerError.emptyToken(file: file, line: line) }
            let previous: Int?
            if let key = PackedTokenKey(token) {
                previous = shortIDs.insert(index, for: key)
            } else {
                previous = longIDs.updateValue(index, forKey: ExactString(token))
            }
            if let first = previous {
                throw TokenizerError.duplicateToken(file: file, line: line, token: token,
                                                    firstLine: lineNumbers?[first] ?? first + 1)
            }
            longest = max(longest, token.unicodeScalars.count)
        }
        self.tokens = tokens
        self.shortIDs = shortIDs
        self.longIDs = longIDs
        self.longestTokenScalars = longest
    }

    func id(for token: String) -> Int? {
        if let key = PackedTokenKey(token) { return shortIDs[key] }
        return longIDs[ExactString(token)]
    }

    /// The id of `scalars` (preceded by "##" when `continuation`), without building a string
    /// for short candidates.
    func id(continuation: Bool, scalars: ArraySlice<Unicode.Scalar>) -> Int? {
        if let key = PackedTokenKey(continuation: continuation, scalars: scalars) { return shortIDs[key] }
        if longIDs.isEmpty { return nil }
        var candidate = continuation ? "##" : ""
        candidate.unicodeScalars.append(contentsOf: scalars)
        return longIDs[ExactString(candidate)]
    }

    func token(for id: Int) -> String? { tokens.indices.contains(id) ? tokens[id] : nil }
}
