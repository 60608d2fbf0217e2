/// BERT WordPiece tokenizer, as used by the Chinese GPT-2 of ClipCap-Chinese (`vocab.txt`).
///
/// `encode` equals transformers' `BertTokenizer(vocab.txt).encode(text, add_special_tokens=False)`
/// (the Python BasicTokenizer + WordpieceTokenizer the seed ran). `decode` reproduces the seed's
/// generation loop, which joins `convert_ids_to_tokens(ids)` with no separator; in addition the
/// "##" of continuation pieces is removed and [PAD]/[CLS]/[SEP]/[MASK] are skipped
/// (docs/TOKENIZERS.md states the exact rule).
public struct WordPieceTokenizer: TextTokenizer {
    /// All state lives in one immutable object so copies of the tokenizer (and closures that
    /// capture it) cost one reference count, not one per table.
    private let model: WordPieceModel

    /// The continuation prefix of WordPiece pieces that do not start a word.
    public static let continuationPrefix = "##"
    /// Special tokens recognised literally in text and skipped by `decode` ([UNK] is recognised
    /// too but decodes to "[UNK]").
    public static let standardSpecialTokens = ["[PAD]", "[CLS]", "[SEP]", "[MASK]"]

    /// Builds a tokenizer over `vocabulary`, where `vocabulary[i]` is the token with id `i`.
    ///
    /// - Parameters:
    ///   - doLowerCase: lower-case and strip accents before lookup (true for the Chinese GPT-2).
    ///   - tokenizeChineseChars: make every CJK ideograph a word of its own.
    ///   - unknownToken: the token for words WordPiece cannot spell; must be in the vocabulary.
    ///   - maxCharsPerWord: longer words (in code points) become the unknown token.
    /// - Throws: `TokenizerError` for an empty vocabulary, empty or duplicate tokens, or a
    ///   missing unknown token (entries are numbered from 1 in the error).
    public init(vocabulary: [String], doLowerCase: Bool = true, tokenizeChineseChars: Bool = true,
                unknownToken: String = "[UNK]", maxCharsPerWord: Int = 100) throws {
        model = try WordPieceModel(
            table: VocabularyTable(tokens: vocabulary, file: TokenizerError.inMemory),
            file: TokenizerError.inMemory, doLowerCase: doLowerCase,
            tokenizeChineseChars: tokenizeChineseChars, unknownToken: unknownToken,
            maxCharsPerWord: maxCharsPerWord)
    }

    private init(model: WordPieceModel) { self.model = model }

    /// Reads a BERT `vocab.txt`: UTF-8, one token per line, id = line index (0-based).
    ///
    /// Lines end in "\n" ("\r\n" is accepted, the "\r" dropped); a final line without newline
    /// counts; a leading UTF-8 byte-order mark is ignored. Lower-casing is on (as for the
    /// Chinese GPT-2 and every uncased BERT vocabulary).
    /// - Throws: `TokenizerError` naming the file and line for unreadable files, invalid
    ///   UTF-8, empty lines, duplicate tokens, or a missing [UNK].
    public static func load(vocabFile: String) throws -> WordPieceTokenizer {
        let lines = try TextFileLines.read(vocabFile)
        let table = try VocabularyTable(tokens: lines.map(\.text), file: vocabFile,
                                        lineNumbers: lines.map(\.number))
        return WordPieceTokenizer(model: try WordPieceModel(
            table: table, file: vocabFile, doLowerCase: true, tokenizeChineseChars: true,
            unknownToken: "[UNK]", maxCharsPerWord: 100))
    }

    public var vocabularySize: Int { model.vocabulary.tokens.count }

    public func token(for id: Int) -> String? { model.vocabulary.token(for: id) }

    public func id(for token: String) -> Int? { model.vocabulary.id(for: token) }

    public func encode(_ text: String) -> [Int] { model.encode(text) }

    /// Joins the tokens with no separator (the seed's `"".join(tokens)`), dropping the "##" of
    /// continuation pieces and skipping [PAD]/[CLS]/[SEP]/[MASK] and out-of-range ids.
    /// [UNK] stays visible as "[UNK]".
    public func decode(_ ids: [Int]) -> String { model.decodeTable.decode(ids) }
}

/// The tables and algorithm behind `WordPieceTokenizer`.
final class WordPieceModel: Sendable {
    let vocabulary: VocabularyTable
    let decodeTable: TokenByteTable
    private let basic: BertBasicTokenizer
    private let specials: SpecialTokenMatcher
    private let unknownID: Int
    private let maxCharsPerWord: Int

    init(table: VocabularyTable, file: String, doLowerCase: Bool, tokenizeChineseChars: Bool,
         unknownToken: String, maxCharsPerWord: Int) throws {
        guard let unknownID = table.id(for: unknownToken) else {
            throw TokenizerError.missingToken(file: file, token: unknownToken,
                                              purpose: "the unknown token for words WordPiece cannot spell")
        }
        self.vocabulary = table
        self.basic = BertBasicTokenizer(doLowerCase: doLowerCase, tokenizeChineseChars: tokenizeChineseChars)
        self.unknownID = unknownID
        self.maxCharsPerWord = maxCharsPerWord
        let skipped = Set(WordPieceTokenizer.standardSpecialTokens.compactMap { table.id(for: $0) })
        self.decodeTable = TokenByteTable(count: table.tokens.count) { id in
            if skipped.contains(id) { return [] }
            let bytes = Array(table.tokens[id].utf8)
            // Python: token.startswith("##") and len(token) > 2.
            return bytes.count > 2 && bytes[0] == 0x23 && bytes[1] == 0x23 ? Array(bytes[2...]) : bytes
        }
        let literal = (WordPieceTokenizer.standardSpecialTokens + [unknownToken]).compactMap { token in
            table.id(for: token).map { (token, $0) }
        }
        self.specials = SpecialTokenMatcher(tokens: literal)
    }

    func encode(_ text: String) -> [Int] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int] = []
        ids.reserveCapacity(scalars.count)
        for segment in specials.split(scalars) {
            switch segment {
            case let .special(id):
                ids.append(id)
            case let .text(range):
                basic.forEachWord(in: scalars[range]) { appendPieces(of: $0, to: &ids) }
            }
        }
        return ids
    }

    /// Greedy longest-match-first WordPiece; a word that cannot be spelt entirely, or is longer
    /// than `maxCharsPerWord` code points, becomes a single unknown token.
    private func appendPieces(of word: ArraySlice<Unicode.Scalar>, to ids: inout [Int]) {
        if word.count > maxCharsPerWord {
            ids.append(unknownID)
            return
        }
        let firstPiece = ids.count
        var start = word.startIndex
        while start < word.endIndex {
            // No token is longer than the longest vocabulary entry: skip hopeless candidates.
            var end = min(word.endIndex, start + vocabulary.longestTokenScalars)
            var found: Int?
            while start < end {
                if let id = vocabulary.id(continuation: start > word.startIndex, scalars: word[start..<end]) {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else {
                ids.removeSubrange(firstPiece...)
                ids.append(unknownID)
                return
            }
            ids.append(id)
            start = end
        }
    }
}
