// Binary encoding of `Metadata` (the metadata section, and the tokenizer's options block).

enum MetadataCodec {
    private enum Tag: UInt8 { case bool = 0, int, float, string, ints, floats, strings }

    static func encode(_ metadata: Metadata, into w: inout ByteWriter) {
        w.u32(UInt32(metadata.entries.count))
        for (key, value) in metadata.entries {
            w.string(key)
            switch value {
            case .bool(let v): w.u8(Tag.bool.rawValue); w.bool(v)
            case .int(let v): w.u8(Tag.int.rawValue); w.i64(v)
            case .float(let v): w.u8(Tag.float.rawValue); w.f64(v)
            case .string(let v): w.u8(Tag.string.rawValue); w.string(v)
            case .ints(let v): w.u8(Tag.ints.rawValue); w.u32(UInt32(v.count)); v.forEach { w.i64($0) }
            case .floats(let v): w.u8(Tag.floats.rawValue); w.u32(UInt32(v.count)); v.forEach { w.f64($0) }
            case .strings(let v): w.u8(Tag.strings.rawValue); w.u32(UInt32(v.count)); v.forEach { w.string($0) }
            }
        }
    }

    /// Why `metadata` cannot be written (a key or value outside the format's limits), or nil.
    static func problem(in metadata: Metadata, what: String) -> String? {
        var seen = Set<String>()
        for (key, value) in metadata.entries {
            if key.isEmpty { return "\(what) has an empty key" }
            if key.utf8.count > FormatLimits.maxNameLength { return "\(what) key '\(key.prefix(40))...' is longer than \(FormatLimits.maxNameLength) bytes" }
            if !seen.insert(key).inserted { return "\(what) key '\(key)' appears twice" }
            switch value {
            case .string(let s) where s.utf8.count > FormatLimits.maxStringLength:
                return "\(what) '\(key)' is longer than \(FormatLimits.maxStringLength) bytes"
            case .ints(let v) where v.count > FormatLimits.maxArrayCount:
                return "\(what) '\(key)' has more than \(FormatLimits.maxArrayCount) items"
            case .floats(let v) where v.count > FormatLimits.maxArrayCount:
                return "\(what) '\(key)' has more than \(FormatLimits.maxArrayCount) items"
            case .strings(let v):
                if v.count > FormatLimits.maxArrayCount { return "\(what) '\(key)' has more than \(FormatLimits.maxArrayCount) items" }
                if v.contains(where: { $0.utf8.count > FormatLimits.maxStringLength }) {
                    return "\(what) '\(key)' holds a string longer than \(FormatLimits.maxStringLength) bytes"
                }
            default: break
            }
        }
        return nil
    }

    static func decode(_ r: inout ByteReader) throws -> Metadata {
        // Smallest entry: empty-ish key (4 + 1 bytes) + tag + 1-byte bool.
        let n = try r.count(of: "metadata entry", minItemBytes: 7, limit: FormatLimits.maxArrayCount)
        var entries: [(key: String, value: MetaValue)] = []
        entries.reserveCapacity(n)
        var seen = Set<String>()
        for _ in 0..<n {
            let key = try r.string(maxLength: FormatLimits.maxNameLength, what: "key")
            guard !key.isEmpty else { throw r.malformed("empty key") }
            guard seen.insert(key).inserted else {
                throw ModelFileError.duplicateName(path: r.path, kind: "\(r.section) key", name: key)
            }
            let tag = try r.u8()
            let value: MetaValue
            switch Tag(rawValue: tag) {
            case .bool: value = .bool(try r.bool())
            case .int: value = .int(try r.i64())
            case .float: value = .float(try r.f64())
            case .string: value = .string(try r.string())
            case .ints:
                let c = try r.count(of: "'\(key)' item", minItemBytes: 8, limit: FormatLimits.maxArrayCount)
                var v: [Int64] = []; v.reserveCapacity(c)
                for _ in 0..<c { v.append(try r.i64()) }
                value = .ints(v)
            case .floats:
                let c = try r.count(of: "'\(key)' item", minItemBytes: 8, limit: FormatLimits.maxArrayCount)
                var v: [Double] = []; v.reserveCapacity(c)
                for _ in 0..<c { v.append(try r.f64()) }
                value = .floats(v)
            case .strings:
                let c = try r.count(of: "'\(key)' item", minItemBytes: 4, limit: FormatLimits.maxArrayCount)
                var v: [String] = []; v.reserveCapacity(c)
                for _ in 0..<c { v.append(try r.string()) }
                value = .strings(v)
            case nil:
                throw r.malformed("key '\(key)' has unknown value type \(tag)")
            }
            entries.append((key, value))
        }
        return Metadata(entries)
    }
}
