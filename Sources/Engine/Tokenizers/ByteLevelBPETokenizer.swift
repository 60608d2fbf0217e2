/// GPT-2 byte-level BPE tokenizer (the original English ClipCap: `vocab.json` + `merges.txt`).
///
/// `encode` equals transformers' `GPT2Tokenizer` (add_prefix_space off): GPT-2's regex splits
/// the text into pieces, each piece's UTF-8 bytes become byte symbols, and ranked merges join
/// them. `decode` concatenates the tokens' bytes and decodes UTF-8, replacing invalid
/// sequences with U+FFFD (HF's `errors="replace"`); <|endoftext|> is skipped.
public struct ByteLevelBPETokenizer: TextTokenizer {
    /// All state lives in one immutable object (plus its lock-protected cache) so copies of
    /// the tokenizer share the cache and cost one reference count.
    private let model: ByteLevelBPEModel

    /// GPT-2's special token: recognised literally in text, skipped by `decode`.
    public static let endOfText = "<|endoftext|>"

    /// Builds a tokenizer from `vocabulary[i]` = token string with id `i` (in the byte-level
    /// alphabet, as in vocab.json) and merge rules "left right", highest priority first
    /// ("#version" header lines are skipped).
    /// - Throws: `TokenizerError` (entries numbered from 1) for an empty vocabulary, duplicate
    ///   tokens, a missing byte symbol, or malformed, duplicate or unknown merges.
    public init(vocabulary: [String], merges: [String]) throws {
        let table = try VocabularyTable(tokens: vocabulary, file: TokenizerError.inMemory)
        model = try ByteLevelBPEModel(
            vocabulary: table, vocabularyFile: TokenizerError.inMemory,
            merges: BPEMergeTable(lines: merges, lineNumbers: Array(1...max(1, merges.count)),
                                  file: TokenizerError.inMemory, vocabulary: table))
    }

    private init(model: ByteLevelBPEModel) { self.model = model }

    /// Reads GPT-2's `vocab.json` (an object mapping token strings to ids 0..<n, no holes)
    /// and `merges.txt` (optional "#version" header, then one "left right" merge per line).
    /// - Throws: `TokenizerError` naming the file and line.
    public static func load(vocabJSON: String, mergesFile: String) throws -> ByteLevelBPETokenizer {
        var parser = VocabJSONParser(bytes: try TextFileLines.readBytes(vocabJSON), file: vocabJSON)
        let tokens = try orderedTokens(parser.parse(), file: vocabJSON)
        let table = try VocabularyTable(tokens: tokens.map(\.token), file: vocabJSON,
                                        lineNumbers: tokens.map(\.line))
        let lines = try TextFileLines.read(mergesFile)
        let merges = try BPEMergeTable(lines: lines.map(\.text), lineNumbers: lines.map(\.number),
                                       file: mergesFile, vocabulary: table)
        return ByteLevelBPETokenizer(model: try ByteLevelBPEModel(vocabulary: table, vocabularyFile: vocabJSON,
                                                                  merges: merges))
    }

    /// The entries sorted by id, after checking that the ids are exactly 0..<count.
    private static func orderedTokens(_ entries: [VocabJSONParser.Entry], file: String) throws -> [VocabJSONParser.Entry] {
        guard !entries.isEmpty else { throw TokenizerError.emptyVocabulary(file: file) }
        var byID = [VocabJSONParser.Entry?](repeating: nil, count: entries.count)
        var largest = entries[0]
        for entry in entries {
            if entry.id > largest.id { largest = entry }
            guard entry.id < entries.count else { continue }
            if let other = byID[entry.id] {
                throw TokenizerError.duplicateID(file: file, line: entry.line, id: entry.id,
                                                 token: entry.token, otherToken: other.token)
            }
            byID[entry.id] = entry
        }
        if let missing = byID.firstIndex(where: { $0 == nil }) {
            throw TokenizerError.idHole(file: file, line: largest.line, missingID: missing,
                                        largestID: largest.id, count: entries.count)
        }
        return byID.compactMap { $0 }
    }

    public var vocabularySize: Int { model.vocabulary.tokens.count }

    public func token(for id: Int) -> String? { model.vocabulary.token(for: id) }

    public func id(for token: String) -> Int? { model.vocabulary.id(for: token) }

    public func encode(_ text: String) -> [Int] { model.encode(text) }

    /// The tokens' bytes, concatenated and decoded as UTF-8 (invalid sequences become U+FFFD);
    /// <|endoftext|> and out-of-range ids are skipped.
    public func decode(_ ids: [Int]) -> String { model.decodeTable.decode(ids) }
}

/// The tables and algorithm behind `ByteLevelBPETokenizer`.
final class ByteLevelBPEModel: Sendable {
    let vocabulary: VocabularyTable
    let decodeTable: TokenByteTable
    private let merges: BPEMergeTable
    /// `byteSymbolIDs[b]`: the id of the one-character token standing for byte `b`.
    private let byteSymbolIDs: [Int32]
    private let specials: SpecialTokenMatcher
    private let cache = BPEWordCache()

    init(vocabulary: VocabularyTable, vocabularyFile: String, merges: BPEMergeTable) throws {
        var byteSymbolIDs: [Int32] = []
        for (byte, symbol) in ByteLevelAlphabet.symbols.enumerated() {
            let token = String(Character(symbol))
            guard let id = vocabulary.id(for: token) else {
                throw TokenizerError.missingToken(
                    file: vocabularyFile, token: token,
                    purpose: "the byte-level symbol of byte 0x\(String(byte, radix: 16, uppercase: true)) (a GPT-2 vocabulary holds all 256)")
            }
            byteSymbolIDs.append(Int32(id))
        }
        let endOfText = vocabulary.id(for: ByteLevelBPETokenizer.endOfText)
        self.vocabulary = vocabulary
        self.merges = merges
        self.byteSymbolIDs = byteSymbolIDs
        self.specials = SpecialTokenMatcher(tokens: endOfText.map { [(ByteLevelBPETokenizer.endOfText, $0)] } ?? [])
        self.decodeTable = TokenByteTable(count: vocabulary.tokens.count) { id in
            id == endOfText ? [] : ByteLevelAlphabet.bytes(of: vocabulary.tokens[id])
        }
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
                for piece in GPT2PreTokenizer.pieces(of: scalars[range]) {
                    var bytes: [UInt8] = []
                    for scalar in scalars[piece] { UTF8.encode(scalar) { bytes.append($0) } }
                    let pieceIDs = cache.ids(for: bytes) { bytes in
                        merges.apply(to: bytes.map { byteSymbolIDs[Int($0)] })
                    }
                    ids.append(contentsOf: pieceIDs.lazy.map { Int($0) })
                }
            }
        }
        return ids
    }
}
