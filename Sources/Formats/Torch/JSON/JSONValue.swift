/// A parsed JSON document (config.json, shard indexes, safetensors headers).
/// Integers that fit in `Int64` (no fraction, no exponent) stay exact.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The member `key` of an object, nil otherwise.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// An integer, or a double with an exact integer value.
    public var intValue: Int? {
        switch self {
        case .int(let v): return Int(exactly: v)
        case .double(let v): return Int(exactly: v)
        default: return nil
        }
    }

    /// Any number as a Double.
    public var doubleValue: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .double(let v): return v
        default: return nil
        }
    }

    public var stringValue: String? { if case .string(let v) = self { return v }; return nil }
    public var boolValue: Bool? { if case .bool(let v) = self { return v }; return nil }
    public var arrayValue: [JSONValue]? { if case .array(let v) = self { return v }; return nil }
    public var objectValue: [String: JSONValue]? { if case .object(let v) = self { return v }; return nil }

    /// Parses UTF-8 JSON text. Duplicate object keys, nesting beyond `maxDepth`, trailing data
    /// and invalid escapes are errors; `path` names the file in the error.
    public static func parse(_ bytes: [UInt8], path: String, maxDepth: Int = 128) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        do {
            return try parser.parseDocument()
        } catch let error as JSONParser.Failure {
            throw CheckpointError.badJSON(path: path, reason: "\(error.reason) at byte \(error.offset)")
        }
    }
}
