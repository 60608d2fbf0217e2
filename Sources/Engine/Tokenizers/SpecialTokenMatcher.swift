/// Finds special-token strings (such as "[SEP]" or "<|endoftext|>") written literally in raw
/// text, so they become their own id instead of being tokenised as ordinary characters.
///
/// HF tokenizers do this before normalisation; at a position where several special tokens
/// start, the longest wins.
struct SpecialTokenMatcher: Sendable {
    /// One piece of the input: ordinary text to tokenise, or a recognised special token.
    enum Segment: Equatable {
        case text(Range<Int>)
        case special(id: Int)
    }

    private struct Entry: Sendable {
        let scalars: [Unicode.Scalar]
        let id: Int
    }

    private let entries: [Entry]
    /// First scalars of the entries: a handful, so a linear scan beats hashing each scalar.
    private let firstScalars: [Unicode.Scalar]

    /// `tokens` lists (string, id) pairs; strings absent from the vocabulary are left out by the caller.
    init(tokens: [(String, Int)]) {
        entries = tokens.map { Entry(scalars: Array($0.0.unicodeScalars), id: $0.1) }
            .filter { !$0.scalars.isEmpty }
            .sorted { $0.scalars.count > $1.scalars.count }
        var firsts: [Unicode.Scalar] = []
        for entry in entries where !firsts.contains(entry.scalars[0]) { firsts.append(entry.scalars[0]) }
        firstScalars = firsts
    }

    /// Splits `scalars` into text runs and special tokens, in order. Empty text runs are omitted.
    func split(_ scalars: [Unicode.Scalar]) -> [Segment] {
        guard !entries.isEmpty else { return scalars.isEmpty ? [] : [.text(0..<scalars.count)] }
        var segments: [Segment] = []
        var textStart = 0
        var index = 0
        while index < scalars.count {
            if firstScalars.contains(scalars[index]), let entry = match(at: index, in: scalars) {
                if textStart < index { segments.append(.text(textStart..<index)) }
                segments.append(.special(id: entry.id))
                index += entry.scalars.count
                textStart = index
            } else {
                index += 1
            }
        }
        if textStart < scalars.count { segments.append(.text(textStart..<scalars.count)) }
        return segments
    }

    private func match(at start: Int, in scalars: [Unicode.Scalar]) -> Entry? {
        for entry in entries where start + entry.scalars.count <= scalars.count {
            if scalars[start..<(start + entry.scalars.count)].elementsEqual(entry.scalars) { return entry }
        }
        return nil
    }
}
