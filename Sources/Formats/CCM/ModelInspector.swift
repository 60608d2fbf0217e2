import Foundation

/// What `ModelInspector` includes.
public struct InspectOptions: Sendable {
    /// List every tensor (otherwise a summary by dtype and encoding).
    public var listTensors: Bool
    /// Print this graph node by node.
    public var graph: String?

    public init(listTensors: Bool = false, graph: String? = nil) {
        self.listTensors = listTensors
        self.graph = graph
    }
}

/// Human-readable and JSON descriptions of a `.ccm` file (`clipcapctl inspect`).
public enum ModelInspector {
    /// A multi-line description: sections, metadata, tensors, graphs, tokenizer.
    /// When `options.graph` names a graph that does not exist, says so and lists the graphs.
    public static func describe(_ file: ModelFile, options: InspectOptions = .init()) -> String {
        let report = InspectReport(file, options: options)
        var out: [String] = []
        out.append("\(file.path): .ccm format version \(file.version), \(formatBytes(file.fileSize))")
        out.append("sections (\(report.sections.count)):")
        for s in report.sections {
            let crc = s.checksum.map { "crc32c \($0)" } ?? "per-tensor checksums"
            out.append("  \(pad(s.name, 14)) offset \(pad(String(s.offset), 10)) length \(pad(String(s.length), 10)) \(crc)\(s.required ? "" : ", optional")")
        }
        out.append("metadata (\(file.metadata.entries.count) keys):")
        for (key, value) in file.metadata.entries {
            out.append("  \(key) = \(clip(value.description, 120)) (\(typeName(value)))")
        }
        let s = report.tensorSummary
        out.append("tensors: \(s.count), stored \(formatBytes(s.storedBytes)), decoded \(formatBytes(s.decodedBytes))"
                   + (s.storedBytes > 0 ? String(format: " (ratio %.3f)", Double(s.decodedBytes) / Double(s.storedBytes)) : ""))
        out.append("  by dtype: " + s.byDtype.map { "\($0.key) \($0.count) (\(formatBytes($0.decodedBytes)))" }.joined(separator: ", "))
        out.append("  by encoding: " + s.byEncoding.map {
            "\($0.key) \($0.count) (\(formatBytes($0.storedBytes)) stored of \(formatBytes($0.decodedBytes)))"
        }.joined(separator: ", "))
        if let tensors = report.tensors {
            let nameWidth = min(48, tensors.map(\.name.count).max() ?? 4)
            out.append("  " + pad("name", nameWidth) + "  dtype  " + pad("shape", 16) + " " + pad("encoding", 13)
                       + pad("stored", 11) + pad("decoded", 11) + "ratio  quantization")
            for t in tensors {
                var line = "  " + pad(t.name, nameWidth) + "  " + pad(t.dtype, 5) + "  " + pad(shapeText(t.shape), 16) + " "
                line += pad(t.encoding, 13) + pad(formatBytes(t.storedBytes), 11) + pad(formatBytes(t.decodedBytes), 11)
                line += pad(String(format: "%.3f", t.compressionRatio), 7)
                if let q = t.quantization { line += quantizationText(q) }
                out.append(line)
            }
        }
        out.append("graphs (\(file.graphs.count)):")
        for g in file.graphs {
            out.append("  \(g.name): \(g.nodes.count) nodes; inputs \(g.inputs.map(specText).joined(separator: ", "))"
                       + "; outputs \(g.outputs.joined(separator: ", "))"
                       + (g.states.isEmpty ? "" : "; \(g.states.count) states"))
        }
        if let t = file.tokenizer {
            let opts = t.options.entries.map { "\($0.key)=\(clip($0.value.description, 40))" }.joined(separator: ", ")
            out.append("tokenizer: \(t.kind), \(t.vocab.count) tokens, \(t.merges.count) merges" + (opts.isEmpty ? "" : "; options: \(opts)"))
        } else {
            out.append("tokenizer: none")
        }
        if let name = options.graph {
            out.append("")
            if let g = file.graph(named: name) {
                out.append(describe(graph: g))
            } else {
                out.append("no graph named '\(name)'; graphs: \(file.graphs.map(\.name).joined(separator: ", "))")
            }
        }
        return out.joined(separator: "\n")
    }

    /// One graph, one line per node: `outputs = op(inputs) {attrs}`, plus inputs, states and outputs.
    public static func describe(graph g: ComputeGraph) -> String {
        var out = ["graph \(g.name) (\(g.nodes.count) nodes)"]
        for i in g.inputs { out.append("  input  \(specText(i))") }
        for s in g.states { out.append("  state  \(specText(s))") }
        for n in g.nodes {
            let attrs = n.attrs.keys.sorted().map { "\($0)=\(n.attrs[$0]!)" }.joined(separator: ", ")
            let inputs = n.inputs.map { $0.isEmpty ? "_" : $0 }.joined(separator: ", ")
            out.append("  \(n.outputs.joined(separator: ", ")) = \(n.op)(\(inputs))" + (attrs.isEmpty ? "" : " {\(attrs)}"))
        }
        out.append("  output \(g.outputs.joined(separator: ", "))")
        return out.joined(separator: "\n")
    }

    /// The same information as `describe` as one line of JSON in the style of every
    /// `clipcapctl --json` (docs/JSON.md): snake_case keys, sorted, slashes unescaped.
    public static func json(_ file: ModelFile, options: InspectOptions = .init()) -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let data = try? encoder.encode(InspectReport(file, options: options)) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: formatting helpers

    static func formatBytes(_ n: Int) -> String {
        if n < 1024 { return "\(n) B" }
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var v = Double(n) / 1024, u = 0
        while v >= 1024, u < units.count - 1 { v /= 1024; u += 1 }
        return String(format: "%.1f %@", v, units[u])
    }

    private static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    private static func clip(_ s: String, _ limit: Int) -> String {
        let oneLine = s.replacingOccurrences(of: "\n", with: "\\n")
        return oneLine.count <= limit ? oneLine : String(oneLine.prefix(limit)) + "…"
    }

    private static func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

    private static func specText(_ v: ValueSpec) -> String {
        "\(v.name): \(v.dtype)[\(v.shape.map(\.description).joined(separator: ", "))]"
    }

    private static func quantizationText(_ q: InspectReport.Quantization) -> String {
        var s = "\(q.scheme) "
        s += q.scheme == "block" ? "block \(q.blockSize)" : "axis \(q.axis)"
        s += ", scales \(q.scalesTensor)"
        if let shape = q.scalesShape { s += " \(shapeText(shape))" }
        if let enc = q.scalesEncoding { s += " \(enc)" }
        return s
    }

    static func typeName(_ v: MetaValue) -> String {
        switch v {
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "string"
        case .ints(let a): return "ints×\(a.count)"
        case .floats(let a): return "floats×\(a.count)"
        case .strings(let a): return "strings×\(a.count)"
        }
    }
}
