// A bounds-checked little-endian cursor over one section of the mapped file. Every read
// checks the bytes left; every count is checked against them before anything is allocated.

/// Reads little-endian values from a section, throwing `ModelFileError.malformed` on any violation.
struct ByteReader {
    private let buffer: UnsafeRawBufferPointer
    private(set) var position = 0
    let path: String
    let section: String

    init(_ buffer: UnsafeRawBufferPointer, path: String, section: String) {
        self.buffer = buffer
        self.path = path
        self.section = section
    }

    var remaining: Int { buffer.count - position }

    func malformed(_ reason: String) -> ModelFileError {
        .malformed(path: path, section: section, reason: reason)
    }

    private mutating func take(_ n: Int) throws -> Int {
        guard n >= 0, n <= remaining else {
            throw malformed("needs \(n) bytes at offset \(position), only \(remaining) left")
        }
        let start = position
        position += n
        return start
    }

    mutating func u8() throws -> UInt8 {
        let at = try take(1)
        return buffer[at]
    }

    mutating func u32() throws -> UInt32 {
        let at = try take(4)
        return UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: at, as: UInt32.self))
    }

    mutating func u64() throws -> UInt64 {
        let at = try take(8)
        return UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: at, as: UInt64.self))
    }

    mutating func i64() throws -> Int64 { Int64(bitPattern: try u64()) }

    mutating func f64() throws -> Double { Double(bitPattern: try u64()) }

    mutating func bool() throws -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        case let other: throw malformed("boolean byte \(other) is neither 0 nor 1")
        }
    }

    /// Reads a u32 count of items each at least `minItemBytes` long, refusing counts the
    /// remaining bytes could not hold or that exceed `limit`.
    mutating func count(of what: String, minItemBytes: Int, limit: Int) throws -> Int {
        let n = Int(try u32())
        guard n <= limit else {
            throw ModelFileError.limitExceeded(path: path, what: "\(what) count \(n) in the \(section)", limit: limit)
        }
        guard n * max(minItemBytes, 0) <= remaining else {
            throw malformed("\(what) count \(n) needs more bytes than the \(remaining) left")
        }
        return n
    }

    /// A u32-length-prefixed UTF-8 string of at most `maxLength` bytes.
    mutating func string(maxLength: Int = FormatLimits.maxStringLength, what: String = "string") throws -> String {
        let n = Int(try u32())
        guard n <= maxLength else {
            throw ModelFileError.limitExceeded(path: path, what: "\(what) length \(n) in the \(section)", limit: maxLength)
        }
        let at = try take(n)
        let slice = UnsafeRawBufferPointer(rebasing: buffer[at..<(at + n)])
        guard let s = String(validating: slice.bindMemoryToUInt8(), as: UTF8.self) else {
            throw malformed("\(what) at offset \(at) is not valid UTF-8")
        }
        return s
    }

    /// Throws unless every byte was consumed.
    func expectEnd() throws {
        guard remaining == 0 else { throw malformed("\(remaining) unexpected bytes at the end") }
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes as a `UInt8` collection without copying (the memory is plain bytes).
    func bindMemoryToUInt8() -> UnsafeBufferPointer<UInt8> {
        guard let base = baseAddress else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: count)
    }
}
