import Foundation

/// SHA-256 (FIPS 180-4), for the `source.<role>.sha256` provenance keys. Foundation on Linux
/// has no CryptoKit, and this is small enough to own.
public struct SHA256 {
    private var h0: UInt32 = 0x6a09e667, h1: UInt32 = 0xbb67ae85, h2: UInt32 = 0x3c6ef372, h3: UInt32 = 0xa54ff53a
    private var h4: UInt32 = 0x510e527f, h5: UInt32 = 0x9b05688c, h6: UInt32 = 0x1f83d9ab, h7: UInt32 = 0x5be0cd19
    /// Bytes of an incomplete block (< 64).
    private var pending: [UInt8] = []
    private var length: UInt64 = 0
    /// Message schedule, reused for every block.
    private var w = [UInt32](repeating: 0, count: 64)

    public init() {}

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    public mutating func update(_ input: some Collection<UInt8>) {
        let bytes = Array(input)
        length &+= UInt64(bytes.count)
        var offset = 0
        if !pending.isEmpty {
            let take = min(64 - pending.count, bytes.count)
            pending.append(contentsOf: bytes[0..<take])
            offset = take
            guard pending.count == 64 else { return }
            compress(pending, at: 0)
            pending.removeAll(keepingCapacity: true)
        }
        // Whole blocks straight from the input; only the tail is copied.
        while bytes.count - offset >= 64 {
            compress(bytes, at: offset)
            offset += 64
        }
        pending.append(contentsOf: bytes[offset...])
    }

    public mutating func finalize() -> [UInt8] {
        let bitLength = length &* 8
        var tail: [UInt8] = pending + [0x80]
        while tail.count % 64 != 56 { tail.append(0) }
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bitLength >> (UInt64(i) * 8))) }
        var offset = 0
        while offset < tail.count { compress(tail, at: offset); offset += 64 }
        pending = []
        return [h0, h1, h2, h3, h4, h5, h6, h7].flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (24 - 8 * UInt32($0))) } }
    }

    private mutating func compress(_ block: [UInt8], at offset: Int) {
        for i in 0..<16 {
            let b = offset &+ 4 &* i
            w[i] = UInt32(block[b]) << 24 | UInt32(block[b + 1]) << 16 | UInt32(block[b + 2]) << 8 | UInt32(block[b + 3])
        }
        for i in 16..<64 {
            let x = w[i - 15], y = w[i - 2]
            let s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3)
            let s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >> 10)
            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
        }
        var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7
        for i in 0..<64 {
            let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
            let ch = (e & f) ^ (~e & g)
            let t1 = h &+ s1 &+ ch &+ Self.k[i] &+ w[i]
            let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
            let maj = (a & b) ^ (a & c) ^ (b & c)
            h = g; g = f; f = e; e = d &+ t1
            d = c; c = b; b = a; a = t1 &+ s0 &+ maj
        }
        h0 &+= a; h1 &+= b; h2 &+= c; h3 &+= d; h4 &+= e; h5 &+= f; h6 &+= g; h7 &+= h
    }

    @inline(__always) private func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    /// Hex digest of a byte string.
    public static func hex(_ bytes: some Collection<UInt8>) -> String {
        var h = SHA256()
        h.update(bytes)
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Hex digest of a file, or of every file of a folder (sorted relative paths and contents).
    public static func hex(fileAt path: String) throws -> String {
        var h = SHA256()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ConvertError.missingInput(role: "input", path: path)
        }
        let files: [String]
        if isDir.boolValue {
            let names = (FileManager.default.enumerator(atPath: path)?.allObjects as? [String]) ?? []
            files = names.sorted().filter { name in
                var sub: ObjCBool = false
                return FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &sub) && !sub.boolValue
            }
        } else {
            files = [""]
        }
        for name in files {
            let full = name.isEmpty ? path : path + "/" + name
            if !name.isEmpty { h.update(Array(name.utf8)); h.update([0]) }
            guard let handle = FileHandle(forReadingAtPath: full) else {
                throw ConvertError.missingInput(role: "input", path: full)
            }
            defer { try? handle.close() }
            while true {
                let chunk = handle.readData(ofLength: 1 << 20)
                if chunk.isEmpty { break }
                h.update(chunk)
            }
        }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
