import Foundation

/// Writes a `.ccm` file (docs/FORMAT.md): tensors streamed one at a time, then the tables,
/// then the header; atomically (temporary file, fsync, rename).
///
/// ```swift
/// var writer = ModelWriter(metadata: meta, graphs: graphs, tokenizer: tokenizer)
/// writer.add(TensorSource(name: "w", shape: [2, 2], floats: [1, 2, 3, 4]))
/// try writer.write(to: "model.ccm")
/// ```
public struct ModelWriter {
    public var metadata: Metadata
    public var graphs: [ComputeGraph]
    public var tokenizer: TokenizerSpec?
    /// Tensors in the order they will be written.
    public private(set) var tensors: [TensorSource] = []
    /// zstd level for `zstd` / `shuffledZstd` tensors (default 3: fast, near the best ratio on weights).
    public var compressionLevel: Int32 = ZstdCodec.defaultLevel

    public init(metadata: Metadata, graphs: [ComputeGraph], tokenizer: TokenizerSpec?) {
        self.metadata = metadata
        self.graphs = graphs
        self.tokenizer = tokenizer
    }

    /// Appends a tensor; its provider is called during `write`.
    public mutating func add(_ tensor: TensorSource) {
        tensors.append(tensor)
    }

    /// Writes the file. Each tensor's provider is called once, in order, and its bytes are
    /// released before the next one, so memory stays at about one tensor.
    /// - Parameter progress: called after each tensor with (tensors written, tensor count).
    /// - Throws: `ModelWriterError`; on any error no file is left behind and an existing
    ///   file at `path` is untouched.
    public func write(to path: String, progress: ((Int, Int) -> Void)? = nil) throws {
        let byteCounts = try validate(path: path)
        var metadataWriter = ByteWriter()
        MetadataCodec.encode(metadata, into: &metadataWriter)
        let graphBytes: [UInt8]
        do {
            graphBytes = try GraphCodec.encode(graphs)
        } catch {
            throw ModelWriterError.invalidModel(path: path, reason: "graphs cannot be encoded as JSON: \(error)")
        }
        guard graphBytes.count <= FormatLimits.maxGraphsSection else {
            throw ModelWriterError.invalidModel(path: path, reason: "graphs take \(graphBytes.count) bytes, above the \(FormatLimits.maxGraphsSection) limit")
        }
        let tokenizerBytes = tokenizer.map(TokenizerCodec.encode)

        let file = try AtomicOutputFile(target: path)
        do {
            try file.write([UInt8](repeating: 0, count: CCMFormatSpec.headerLength))
            var entries: [TensorEntry] = []
            for (index, source) in tensors.enumerated() {
                entries.append(try writeTensor(source, index: index, byteCount: byteCounts[index], to: file))
                progress?(index + 1, tensors.count)
            }
            var sections: [(SectionKind, Int, Int, UInt32)] = []   // kind, offset, length, crc
            let dataStart = CCMFormatSpec.headerLength
            sections.append((.tensorData, dataStart, file.position - dataStart, 0))

            var tableWriter = ByteWriter()
            TensorTableCodec.encode(entries, into: &tableWriter)
            let bodies: [(SectionKind, [UInt8])] = [(.metadata, metadataWriter.bytes), (.tensorTable, tableWriter.bytes),
                                                    (.graphs, graphBytes)] + (tokenizerBytes.map { [(.tokenizer, $0)] } ?? [])
            for (kind, body) in bodies {
                try file.pad(to: CCMFormatSpec.sectionAlignment)
                sections.append((kind, file.position, body.count, CRC32C.checksum(body)))
                try file.write(body)
            }
            try file.pad(to: CCMFormatSpec.sectionAlignment)
            let tableOffset = file.position
            var table = ByteWriter()
            for (kind, offset, length, crc) in sections {
                table.u32(kind.rawValue)
                table.u32(kind == .tensorData ? SectionFlags.required : SectionFlags.required | SectionFlags.checksummed)
                table.u64(UInt64(offset))
                table.u64(UInt64(length))
                table.u32(crc)
                table.u32(0)
            }
            try file.write(table.bytes)
            try file.patch(Self.header(sectionCount: sections.count, tableOffset: tableOffset,
                                       fileLength: file.position, tableChecksum: CRC32C.checksum(table.bytes)), at: 0)
            try file.commit { temp in
                do {
                    let map = try MemoryMap(path: temp)
                    _ = try FileLayout.parse(map.bytes, path: temp)
                } catch {
                    throw ModelWriterError.selfCheckFailed(path: path, reason: "\(error)")
                }
            }
        } catch {
            file.discard()
            throw error
        }
    }

    /// Produces, encodes and writes one tensor at the current (64-aligned) position.
    private func writeTensor(_ source: TensorSource, index: Int, byteCount: Int, to file: AtomicOutputFile) throws -> TensorEntry {
        let path = file.target
        let raw: [UInt8]
        do {
            raw = try source.provider()
        } catch {
            throw ModelWriterError.providerFailed(path: path, tensor: source.name, reason: "\(error)")
        }
        guard raw.count == byteCount else {
            throw ModelWriterError.wrongByteCount(path: path, tensor: source.name, expected: byteCount, actual: raw.count)
        }
        var stored: [UInt8] = []
        if byteCount > 0 {
            do {
                switch source.encoding {
                case .raw:
                    stored = raw
                case .zstd:
                    stored = try raw.withUnsafeBytes { try ZstdCodec.compress($0, level: compressionLevel) }
                case .shuffledZstd:
                    let shuffled = raw.withUnsafeBytes { ZstdCodec.shuffle($0, elementSize: source.dtype.size) }
                    stored = try shuffled.withUnsafeBytes { try ZstdCodec.compress($0, level: compressionLevel) }
                }
            } catch let failure as ZstdFailure {
                throw ModelWriterError.compressionFailed(path: path, tensor: source.name, reason: failure.reason)
            }
        }
        let offset = file.position
        try file.write(stored)
        try file.pad(to: CCMFormatSpec.tensorAlignment)
        return TensorEntry(name: source.name, dtype: source.dtype, shape: source.shape, layout: source.layout,
                           encoding: source.encoding, offset: offset, storedLength: stored.count, byteCount: byteCount,
                           checksum: CRC32C.checksum(stored), quantization: source.quantization, index: index)
    }

    private static func header(sectionCount: Int, tableOffset: Int, fileLength: Int, tableChecksum: UInt32) -> [UInt8] {
        var w = ByteWriter()
        w.bytes.append(contentsOf: CCMFormatSpec.magic)
        w.u32(CCMFormatSpec.version)
        w.u32(CCMFormatSpec.byteOrderMark)
        w.u32(UInt32(CCMFormatSpec.headerLength))
        w.u32(UInt32(sectionCount))
        w.u64(UInt64(tableOffset))
        w.u64(UInt64(fileLength))
        w.u32(tableChecksum)
        w.u32(0)
        w.bytes.append(contentsOf: [UInt8](repeating: 0, count: 12))
        w.u32(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    /// Checks what can be checked before writing anything; returns each tensor's decoded byte count.
    private func validate(path: String) throws -> [Int] {
        func invalid(_ reason: String) -> ModelWriterError { .invalidModel(path: path, reason: reason) }
        if let problem = MetadataCodec.problem(in: metadata, what: "metadata") { throw invalid(problem) }
        if let tokenizer, let problem = TokenizerCodec.problem(in: tokenizer) { throw invalid(problem) }
        var graphNames = Set<String>()
        for g in graphs {
            guard !g.name.isEmpty else { throw invalid("a graph has an empty name") }
            guard graphNames.insert(g.name).inserted else { throw invalid("two graphs are named '\(g.name)'") }
        }
        guard tensors.count <= FormatLimits.maxTensors else { throw invalid("more than \(FormatLimits.maxTensors) tensors") }
        var byName: [String: TensorSource] = [:]
        var counts: [Int] = []
        for t in tensors {
            guard !t.name.isEmpty, t.name.utf8.count <= FormatLimits.maxNameLength else {
                throw invalid("tensor name '\(t.name.prefix(40))' is empty or longer than \(FormatLimits.maxNameLength) bytes")
            }
            guard byName.updateValue(t, forKey: t.name) == nil else { throw invalid("two tensors are named '\(t.name)'") }
            guard t.shape.allSatisfy({ $0 >= 0 }) else { throw invalid("tensor '\(t.name)' has a negative dimension \(t.shape)") }
            switch ShapeMath.sizes(of: t.shape.map { UInt64($0) }, dtype: t.dtype) {
            case .success(let (_, bytes)): counts.append(bytes)
            case .failure(let p): throw invalid("tensor '\(t.name)': \(p.reason)")
            }
        }
        for t in tensors {
            guard let q = t.quantization else { continue }
            guard t.dtype == .i8 else { throw invalid("tensor '\(t.name)' is \(t.dtype) but has quantization info (only i8 may)") }
            guard let scales = byName[q.scalesTensor], scales.dtype == .f32 else {
                throw invalid("tensor '\(t.name)': scales tensor '\(q.scalesTensor)' is missing or not f32")
            }
            guard q.scheme.utf8.count <= FormatLimits.maxNameLength, q.axis >= 0, q.blockSize >= 0 else {
                throw invalid("tensor '\(t.name)' has invalid quantization info")
            }
        }
        return counts
    }
}
