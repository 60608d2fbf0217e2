/// The ranked merges of a byte-level BPE and the merge loop itself.
///
/// Symbols are vocabulary ids; a merge joins two adjacent ids into the id of their
/// concatenation. The loop is the one of OpenAI's GPT-2 encoder: repeatedly take the
/// adjacent pair with the lowest rank and merge every occurrence of it, left to right.
struct BPEMergeTable: Sendable {
    /// (left << 32 | right) -> (rank << 32 | merged id).
    private let merges: [UInt64: UInt64]

    var count: Int { merges.count }

    /// Parses merge lines ("left right"); `lineNumbers[i]` is the line of `lines[i]` for errors.
    /// Lines starting with "#version" are headers and skipped.
    init(lines: [String], lineNumbers: [Int], file: String, vocabulary: VocabularyTable) throws {
        var merges: [UInt64: UInt64] = [:]
        merges.reserveCapacity(lines.count)
        var firstLines: [UInt64: Int] = [:]
        var rank: UInt64 = 0
        for (index, line) in lines.enumerated() {
            let number = lineNumbers[index]
            if line.hasPrefix("#version") { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.malformedMerge(file: file, line: number, text: line)
            }
            let left = String(parts[0]), right = String(parts[1])
            guard let leftID = vocabulary.id(for: left) else {
                throw TokenizerError.unknownMergeToken(file: file, line: number, token: left)
            }
            guard let rightID = vocabulary.id(for: right) else {
                throw TokenizerError.unknownMergeToken(file: file, line: number, token: right)
            }
            guard let mergedID = vocabulary.id(for: left + right) else {
                throw TokenizerError.unknownMergeToken(file: file, line: number, token: left + right)
            }
            let key = UInt64(leftID) << 32 | UInt64(rightID)
            if let first = firstLines[key] {
                throw TokenizerError.duplicateMerge(file: file, line: number, merge: line, firstLine: first)
            }
            firstLines[key] = number
            merges[key] = rank << 32 | UInt64(mergedID)
            rank += 1
        }
        self.merges = merges
    }

    /// Applies the merges to a word given as the ids of its byte symbols.
    func apply(to initial: [Int32]) -> [Int32] {
        var word = initial
        while word.count > 1 {
            var best = UInt64.max
            var bestIndex = -1
            for index in 0..<(word.count - 1) {
                if let entry = merges[Self.key(word[index], word[index + 1])], entry < best {
                    best = entry
                    bestIndex = index
                }
            }
            guard bestIndex >= 0 else { break }
            let left = word[bestIndex], right = word[bestIndex + 1]
            let merged = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            var next: [Int32] = []
            next.reserveCapacity(word.count - 1)
            var index = 0
            while index < word.count {
                if index + 1 < word.count, word[index] == left, word[index + 1] == right {
                    next.append(merged)
                    index += 2
                } else {
                    next.append(word[index])
                    index += 1
                }
            }
            word = next
        }
        return word
    }

    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }
}
