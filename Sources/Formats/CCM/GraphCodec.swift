import Foundation

// The graphs section: `[ComputeGraph]` as JSON. Graphs are small, `Codable` round-trips
// them exactly, and JSON keeps them readable with ordinary tools.

enum GraphCodec {
    static func encode(_ graphs: [ComputeGraph]) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Array(try encoder.encode(graphs))
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws -> [ComputeGraph] {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let graphs: [ComputeGraph]
        do {
            graphs = try decoder.decode([ComputeGraph].self, from: Data(bytes))
        } catch {
            throw ModelFileError.invalidGraphs(path: path, reason: "not valid graph JSON: \(describe(error))")
        }
        var seen = Set<String>()
        for g in graphs {
            guard !g.name.isEmpty else { throw ModelFileError.invalidGraphs(path: path, reason: "a graph has an empty name") }
            guard seen.insert(g.name).inserted else {
                throw ModelFileError.duplicateName(path: path, kind: "graph", name: g.name)
            }
        }
        return graphs
    }

    /// A one-line account of a decoding error (the default description is multi-line and huge).
    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c):
            return c.debugDescription + at(c.codingPath)
        case DecodingError.keyNotFound(let key, let c):
            return "missing key '\(key.stringValue)'" + at(c.codingPath)
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return c.debugDescription + at(c.codingPath)
        default:
            return String(describing: error).split(separator: "\n").first.map(String.init) ?? "unknown error"
        }
    }

    private static func at(_ path: [CodingKey]) -> String {
        path.isEmpty ? "" : " at " + path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
