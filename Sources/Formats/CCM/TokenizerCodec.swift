// The tokenizer section: kind, vocabulary, merges and an options metadata block.

enum TokenizerCodec {
    static func encode(_ tokenizer: TokenizerSpec) -> [UInt8] {
        var w = ByteWriter()
        w.string(tokenizer.kind)
        w.u32(UInt32(tokenizer.vocab.count))
        tokenizer.vocab.forEach { w.string($0) }
        w.u32(UInt32(tokenizer.merges.count))
        tokenizer.merges.forEach { w.string($0) }
        MetadataCodec.encode(tokenizer.options, into: &w)
        return w.bytes
    }

    /// Why `tokenizer` cannot be written, or nil.
    static func problem(in tokenizer: TokenizerSpec) -> String? {
        if tokenizer.kind.isEmpty || tokenizer.kind.utf8.count > FormatLimits.maxNameLength { return "tokenizer kind is empty or too long" }
        if tokenizer.vocab.count > FormatLimits.maxArrayCount || tokenizer.merges.count > FormatLimits.maxArrayCount {
            return "tokenizer has more than \(FormatLimits.maxArrayCount) tokens or merges"
        }
        if tokenizer.vocab.contains(where: { $0.utf8.count > FormatLimits.maxNameLength })
            || tokenizer.merges.contains(where: { $0.utf8.count > FormatLimits.maxNameLength }) {
            return "a tokenizer token or merge is longer than \(FormatLimits.maxNameLength) bytes"
        }
        return MetadataCodec.problem(in: tokenizer.options, what: "tokenizer option")
    }

    static func decode(_ r: inout ByteReader) throws -> TokenizerSpec {
        let kind = try r.string(maxLength: FormatLimits.maxNameLength, what: "tokenizer kind")
        guard !kind.isEmpty else { throw r.malformed("empty tokenizer kind") }
        let nv = try r.count(of: "vocabulary token", minItemBytes: 4, limit: FormatLimits.maxArrayCount)
        var vocab: [String] = []
        vocab.reserveCapacity(nv)
        for _ in 0..<nv { vocab.append(try r.string(maxLength: FormatLimits.maxNameLength, what: "token")) }
        let nm = try r.count(of: "merge", minItemBytes: 4, limit: FormatLimits.maxArrayCount)
        var merges: [String] = []
        merges.reserveCapacity(nm)
        for _ in 0..<nm { merges.append(try r.string(maxLength: FormatLimits.maxNameLength, what: "merge")) }
        let options = try MetadataCodec.decode(&r)
        try r.expectEnd()
        return TokenizerSpec(kind: kind, vocab: vocab, merges: merges, options: options)
    }
}
