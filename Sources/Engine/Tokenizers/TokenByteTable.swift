/// The UTF-8 bytes `decode` emits for every id, in one flat array built once.
///
/// Decoding is then a sequence of byte copies and one UTF-8 validation at the end; ids
/// outside the table, and ids mapped to no bytes (skipped special tokens), add nothing.
struct TokenByteTable: Sendable {
    private let bytes: [UInt8]
    /// `offsets[id]..<offsets[id + 1]` are the bytes of `id`.
    private let offsets: [Int]

    /// `bytesOf(id)` gives the bytes for each id in `0..<count`.
    init(count: Int, bytesOf: (Int) -> [UInt8]) {
        var bytes: [UInt8] = []
        var offsets: [Int] = [0]
        offsets.reserveCapacity(count + 1)
        for id in 0..<count {
            bytes.append(contentsOf: bytesOf(id))
            offsets.append(bytes.count)
        }
        self.bytes = bytes
        self.offsets = offsets
    }

    /// The concatenated bytes of `ids`, decoded as UTF-8 with every invalid sequence replaced
    /// by U+FFFD (the "maximal subpart" rule, as Python's `errors="replace"` and Rust's
    /// `from_utf8_lossy`).
    func decode(_ ids: [Int]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        for id in ids where id >= 0 && id < offsets.count - 1 {
            out.append(contentsOf: bytes[offsets[id]..<offsets[id + 1]])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
