import Foundation

/// How `ModelFile.open` treats a file.
public struct OpenOptions: Sendable {
    /// Check each tensor's CRC32C the first time `bytes(of:)` is called for it (reads the
    /// stored bytes once; off by default because `clipcapctl verify` checks everything).
    public var verifyTensorChecksumsOnFirstUse: Bool
    /// Map every page at open (`MAP_POPULATE`): one kernel call instead of a page fault per
    /// 4 KiB on first use. For callers that will read the whole file anyway (the engine).
    public var prefault: Bool

    public init(verifyTensorChecksumsOnFirstUse: Bool = false) {
        self.init(verifyTensorChecksumsOnFirstUse: verifyTensorChecksumsOnFirstUse, prefault: false)
    }

    public init(verifyTensorChecksumsOnFirstUse: Bool, prefault: Bool) {
        self.verifyTensorChecksumsOnFirstUse = verifyTensorChecksumsOnFirstUse
        self.prefault = prefault
    }
}

/// A `.ccm` model file, memory-mapped read-only (docs/FORMAT.md).
///
/// Opening validates the header, the section table, every table section and its checksum,
/// and the placement of every tensor, without touching tensor pages. Raw tensors are then
/// used straight from the map; compressed ones are decoded once, on first use.
/// Thread-safe: every member may be used from any thread.
public final class ModelFile: @unchecked Sendable {
    /// The path the file was opened from.
    public let path: String
    /// Format version of the file.
    public let version: Int
    public let metadata: Metadata
    /// Tensor table, in file order.
    public let tensors: [TensorEntry]
    public let graphs: [ComputeGraph]
    public let tokenizer: TokenizerSpec?
    /// The section table, in file order.
    public let sections: [SectionInfo]
    /// Size of the file in bytes.
    public var fileSize: Int { map.bytes.count }

    let map: MemoryMap
    let layout: FileLayout
    private let options: OpenOptions
    private let indexByName: [String: Int]
    /// Guards `decoded` and `checked`.
    private let lock = NSLock()
    /// Decoded compressed tensors by table index; owned, freed at deinit.
    private var decoded: [Int: UnsafeMutableRawBufferPointer] = [:]
    /// Tensors whose checksum was verified on first use.
    private var checked: Set<Int> = []

    private init(path: String, map: MemoryMap, layout: FileLayout, options: OpenOptions) {
        self.path = path
        self.map = map
        self.layout = layout
        self.options = options
        version = layout.version
        metadata = layout.metadata
        tensors = layout.tensors
        graphs = layout.graphs
        tokenizer = layout.tokenizer
        sections = layout.sections
        indexByName = Dictionary(layout.tensors.map { ($0.name, $0.index) }, uniquingKeysWith: { a, _ in a })
    }

    deinit {
        for buffer in decoded.values { buffer.deallocate() }
    }

    /// Maps and validates the file at `path`.
    /// - Throws: `ModelFileError` naming what is wrong (missing file, git-lfs pointer, truncation, bad checksum, ...).
    public static func open(path: String, options: OpenOptions = .init()) throws -> ModelFile {
        let map = try MemoryMap(path: path, prefault: options.prefault)
        let layout = try FileLayout.parse(map.bytes, path: path)
        return ModelFile(path: path, map: map, layout: layout, options: options)
    }

    /// The tensor called `name`, if any.
    public func tensor(named name: String) -> TensorEntry? {
        indexByName[name].map { tensors[$0] }
    }

    /// The graph called `name`, if any.
    public func graph(named name: String) -> ComputeGraph? {
        graphs.first { $0.name == name }
    }

    /// The stored (possibly compressed) bytes of `entry`, inside the map.
    func storedBytes(of entry: TensorEntry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: map.bytes[entry.offset..<(entry.offset + entry.storedLength)])
    }

    /// The decoded bytes of `entry`, valid while this `ModelFile` lives. Never write through them.
    ///
    /// Raw tensors point straight into the map (zero copy, 64-byte aligned). Compressed tensors
    /// are decoded on the first call (under a lock) into memory this file owns; later calls
    /// return the same buffer.
    /// - Throws: `ModelFileError.unknownTensor` for an entry of another file; `decodeFailed` or
    ///   `tensorChecksumMismatch` when the stored bytes are corrupt.
    public func bytes(of entry: TensorEntry) throws -> UnsafeRawBufferPointer {
        guard entry.index >= 0, entry.index < tensors.count, tensors[entry.index] == entry else {
            throw ModelFileError.unknownTensor(path: path, name: entry.name)
        }
        let stored = storedBytes(of: entry)
        if entry.encoding == .raw && !options.verifyTensorChecksumsOnFirstUse { return stored }
        lock.lock()
        defer { lock.unlock() }
        if let buffer = decoded[entry.index] { return UnsafeRawBufferPointer(buffer) }
        if options.verifyTensorChecksumsOnFirstUse && !checked.contains(entry.index) {
            let actual = CRC32C.checksum(stored)
            guard actual == entry.checksum else {
                throw ModelFileError.tensorChecksumMismatch(path: path, tensor: entry.name, expected: entry.checksum, actual: actual)
            }
            checked.insert(entry.index)
        }
        if entry.encoding == .raw || entry.byteCount == 0 { return stored }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: entry.byteCount, alignment: CCMFormatSpec.tensorAlignment)
        do {
            try decode(entry, from: stored, into: buffer)
        } catch {
            buffer.deallocate()
            throw error
        }
        decoded[entry.index] = buffer
        return UnsafeRawBufferPointer(buffer)
    }

    /// Decodes a compressed tensor into `output` (exactly `byteCount` bytes).
    func decode(_ entry: TensorEntry, from stored: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        do {
            switch entry.encoding {
            case .raw:
                output.copyMemory(from: stored)
            case .zstd:
                try ZstdCodec.decompress(stored, into: output)
            case .shuffledZstd:
                let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: entry.byteCount, alignment: 64)
                defer { scratch.deallocate() }
                try ZstdCodec.decompress(stored, into: scratch)
                ZstdCodec.unshuffle(UnsafeRawBufferPointer(scratch), into: output, elementSize: entry.dtype.size)
            }
        } catch let failure as ZstdFailure {
            throw ModelFileError.decodeFailed(path: path, tensor: entry.name, reason: failure.reason)
        }
    }
}
