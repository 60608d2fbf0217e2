/// Why a vocabulary or merges file could not be used.
///
/// Every case names the file (or `TokenizerError.inMemory` for arrays passed to an
/// initialiser, where "line" means the 1-based entry number) and, where one exists, the line.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The file could not be read at all.
    case unreadableFile(file: String, reason: String)
    /// The file (or array) holds no tokens.
    case emptyVocabulary(file: String)
    /// A line is not valid UTF-8.
    case invalidUTF8(file: String, line: Int)
    /// A vocabulary line is empty.
    case emptyToken(file: String, line: Int)
    /// The same token string appears twice.
    case duplicateToken(file: String, line: Int, token: String, firstLine: Int)
    /// A token the tokenizer cannot work without is absent (the unknown token, a byte symbol).
    case missingToken(file: String, token: String, purpose: String)
    /// vocab.json is not a JSON object mapping strings to non-negative integers.
    case malformedJSON(file: String, line: Int, column: Int, problem: String)
    /// Two tokens of vocab.json share one id.
    case duplicateID(file: String, line: Int, id: Int, token: String, otherToken: String)
    /// The ids of vocab.json do not cover `0..<count`; `line` holds the largest id.
    case idHole(file: String, line: Int, missingID: Int, largestID: Int, count: Int)
    /// A merges line is not two tokens separated by one space.
    case malformedMerge(file: String, line: Int, text: String)
    /// A merge names a token (or produces one) that the vocabulary lacks.
    case unknownMergeToken(file: String, line: Int, token: String)
    /// The same merge appears twice.
    case duplicateMerge(file: String, line: Int, merge: String, firstLine: Int)

    /// The file name used for vocabularies and merges passed as arrays.
    public static let inMemory = "<in-memory list>"

    public var description: String {
        switch self {
        case let .unreadableFile(file, reason):
            return "\(file): cannot read the file (\(reason)). Check the path and permissions."
        case let .emptyVocabulary(file):
            return "\(file): the vocabulary is empty. Point to the model's vocab file (one token per line for vocab.txt, a JSON object for vocab.json)."
        case let .invalidUTF8(file, line):
            return "\(file):\(line): the line is not valid UTF-8. Vocabulary files must be UTF-8 text; re-export the file."
        case let .emptyToken(file, line):
            return "\(file):\(line): the line is empty, but every line must hold one token (its id is the line index). Remove the blank line only if the model was trained without it."
        case let .duplicateToken(file, line, token, firstLine):
            return "\(file):\(line): token \(quoted(token)) already appeared on line \(firstLine). A vocabulary maps each token to one id; the file is corrupt or not a vocabulary."
        case let .missingToken(file, token, purpose):
            return "\(file): the vocabulary has no token \(quoted(token)), needed as \(purpose). Use the vocabulary the model was trained with."
        case let .malformedJSON(file, line, column, problem):
            return "\(file):\(line):\(column): \(problem). vocab.json must be one JSON object mapping token strings to integer ids."
        case let .duplicateID(file, line, id, token, otherToken):
            return "\(file):\(line): token \(quoted(token)) has id \(id), already used by \(quoted(otherToken)). Each id must belong to one token."
        case let .idHole(file, line, missingID, largestID, count):
            return "\(file):\(line): ids must run 0..<\(count) without holes, but id \(missingID) is missing (largest id \(largestID) is here). The file is truncated or not a GPT-2 style vocabulary."
        case let .malformedMerge(file, line, text):
            return "\(file):\(line): expected two tokens separated by one space, found \(quoted(text)). Use the merges.txt that belongs to the vocabulary."
        case let .unknownMergeToken(file, line, token):
            return "\(file):\(line): the merge uses or produces \(quoted(token)), which vocab.json does not contain. The merges file does not belong to this vocabulary."
        case let .duplicateMerge(file, line, merge, firstLine):
            return "\(file):\(line): merge \(quoted(merge)) already appeared on line \(firstLine). The merges file is corrupt."
        }
    }

    /// The file the error is about.
    public var file: String {
        switch self {
        case let .unreadableFile(file, _), let .emptyVocabulary(file), let .invalidUTF8(file, _),
             let .emptyToken(file, _), let .duplicateToken(file, _, _, _), let .missingToken(file, _, _),
             let .malformedJSON(file, _, _, _), let .duplicateID(file, _, _, _, _),
             let .idHole(file, _, _, _, _), let .malformedMerge(file, _, _),
             let .unknownMergeToken(file, _, _), let .duplicateMerge(file, _, _, _):
            return file
        }
    }

    /// The 1-based line (or entry) the error is about, when there is one.
    public var line: Int? {
        switch self {
        case .unreadableFile, .emptyVocabulary, .missingToken:
            return nil
        case let .invalidUTF8(_, line), let .emptyToken(_, line), let .duplicateToken(_, line, _, _),
             let .malformedJSON(_, line, _, _), let .duplicateID(_, line, _, _, _),
             let .idHole(_, line, _, _, _), let .malformedMerge(_, line, _),
             let .unknownMergeToken(_, line, _), let .duplicateMerge(_, line, _, _):
            return line
        }
    }
}

/// Quotes a token for an error message, escaping invisible characters so they can be seen.
private func quoted(_ token: String) -> String {
    let shown = token.count > 40 ? String(token.prefix(40)) + "…" : token
    var out = "\""
    for scalar in shown.unicodeScalars {
        if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\"" || scalar == "\\" {
            out += scalar.escaped(asASCII: true)
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
