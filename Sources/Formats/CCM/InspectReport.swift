// The data behind `ModelInspector`: one Codable value, so text and JSON say the same thing.

struct InspectReport: Encodable {
    struct Section: Encodable {
        let kind: UInt32, name: String, offset: Int, length: Int, required: Bool
        /// Hex CRC32C, or nil for the tensor data section (per-tensor checksums).
        let checksum: String?
    }
    struct MetaEntry: Encodable {
        let key: String, type: String, value: JSONMetaValue
    }
    struct Quantization: Encodable {
        let scheme: String, scalesTensor: String, axis: Int, blockSize: Int
        let scalesShape: [Int]?, scalesEncoding: String?
    }
    struct Tensor: Encodable {
        let name: String, dtype: String, shape: [Int], layout: String, encoding: String
        let offset: Int, storedBytes: Int, decodedBytes: Int, compressionRatio: Double, checksum: String
        let quantization: Quantization?
    }
    struct Group: Encodable { let key: String, count: Int, storedBytes: Int, decodedBytes: Int }
    struct TensorSummary: Encodable {
        let count: Int, storedBytes: Int, decodedBytes: Int
        let byDtype: [Group], byEncoding: [Group]
    }
    struct GraphSummary: Encodable {
        let name: String, nodes: Int, inputs: [String], outputs: [String], states: [String]
    }
    struct Tokenizer: Encodable { let kind: String, vocabSize: Int, merges: Int, options: [MetaEntry] }

    let path: String, fileSize: Int, version: Int
    let sections: [Section]
    let metadata: [MetaEntry]
    let tensorSummary: TensorSummary
    let tensors: [Tensor]?
    let graphs: [GraphSummary]
    let graph: JSONGraph?
    let tokenizer: Tokenizer?

    init(_ file: ModelFile, options: InspectOptions) {
        path = file.path
        fileSize = file.fileSize
        version = file.version
        sections = file.sections.map {
            Section(kind: $0.kind, name: $0.name, offset: $0.offset, length: $0.length, required: $0.required,
                    checksum: $0.checksummed ? hex($0.checksum) : nil)
        }
        metadata = Self.entries(file.metadata)
        func group(_ key: (TensorEntry) -> String) -> [Group] {
            Dictionary(grouping: file.tensors, by: key).map { k, ts in
                Group(key: k, count: ts.count, storedBytes: ts.reduce(0) { $0 + $1.storedLength }, decodedBytes: ts.reduce(0) { $0 + $1.byteCount })
            }.sorted { $0.key < $1.key }
        }
        tensorSummary = TensorSummary(count: file.tensors.count,
                                      storedBytes: file.tensors.reduce(0) { $0 + $1.storedLength },
                                      decodedBytes: file.tensors.reduce(0) { $0 + $1.byteCount },
                                      byDtype: group { $0.dtype.description }, byEncoding: group { $0.encoding.description })
        tensors = options.listTensors ? file.tensors.map { t in
            let q = t.quantization.map { q in
                let scales = file.tensor(named: q.scalesTensor)
                return Quantization(scheme: q.scheme, scalesTensor: q.scalesTensor, axis: q.axis, blockSize: q.blockSize,
                                    scalesShape: scales?.shape, scalesEncoding: scales?.encoding.description)
            }
            return Tensor(name: t.name, dtype: t.dtype.description, shape: t.shape, layout: "\(t.layout)",
                          encoding: t.encoding.description, offset: t.offset, storedBytes: t.storedLength, decodedBytes: t.byteCount,
                          compressionRatio: t.storedLength > 0 ? Double(t.byteCount) / Double(t.storedLength) : 1,
                          checksum: hex(t.checksum), quantization: q)
        } : nil
        graphs = file.graphs.map {
            GraphSummary(name: $0.name, nodes: $0.nodes.count, inputs: $0.inputs.map(\.name), outputs: $0.outputs, states: $0.states.map(\.name))
        }
        graph = options.graph.flatMap { file.graph(named: $0) }.map(JSONGraph.init)
        tokenizer = file.tokenizer.map {
            Tokenizer(kind: $0.kind, vocabSize: $0.vocab.count, merges: $0.merges.count, options: Self.entries($0.options))
        }
    }

    private static func entries(_ m: Metadata) -> [MetaEntry] {
        m.entries.map { MetaEntry(key: $0.key, type: ModelInspector.typeName($0.value), value: JSONMetaValue($0.value)) }
    }
}

/// A metadata value as plain JSON (number, string, bool or array), not Codable's tagged enum form.
struct JSONMetaValue: Encodable {
    let value: MetaValue
    init(_ value: MetaValue) { self.value = value }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch value {
        case .bool(let v): try c.encode(v)
        case .int(let v): try c.encode(v)
        case .float(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .ints(let v): try c.encode(v)
        case .floats(let v): try c.encode(v)
        case .strings(let v): try c.encode(v)
        }
    }
}

/// A graph as plain JSON: dtypes by name (`"f32"`), shapes as numbers and symbol names
/// (`[1, "B", 64]`), attributes as plain values — not Codable's encoding of the Swift enums
/// (`"dtype": 0`, `{"fixed": {"_0": 1}}`).
struct JSONGraph: Encodable {
    struct Value: Encodable {
        let name: String, dtype: String, shape: [JSONMetaValue]
        init(_ v: ValueSpec) { name = v.name; dtype = v.dtype.description; shape = v.shape.map(JSONAttr.make) }
    }
    struct Node: Encodable {
        let name: String, op: String, inputs: [String], outputs: [String], attrs: [String: JSONMetaValue]
        init(_ n: GraphNode) {
            name = n.name; op = n.op; inputs = n.inputs; outputs = n.outputs
            attrs = n.attrs.mapValues(JSONAttr.make)
        }
    }
    let name: String, inputs: [Value], outputs: [String], states: [Value], nodes: [Node]
    init(_ g: ComputeGraph) {
        name = g.name; inputs = g.inputs.map(Value.init); outputs = g.outputs
        states = g.states.map(Value.init); nodes = g.nodes.map(Node.init)
    }
}

/// An attribute value or a dimension as plain JSON, through `JSONMetaValue`: a symbol is its
/// name, a fixed dimension its size.
enum JSONAttr {
    static func make(_ dim: Dim) -> JSONMetaValue {
        switch dim {
        case .fixed(let n): return JSONMetaValue(.int(Int64(n)))
        case .symbol(let s): return JSONMetaValue(.string(s))
        }
    }

    static func make(_ value: AttrValue) -> JSONMetaValue {
        switch value {
        case .int(let v): return JSONMetaValue(.int(v))
        case .float(let v): return JSONMetaValue(.float(v))
        case .string(let v), .symbol(let v): return JSONMetaValue(.string(v))
        case .ints(let v): return JSONMetaValue(.ints(v))
        case .floats(let v): return JSONMetaValue(.floats(v))
        }
    }
}
