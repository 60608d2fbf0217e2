import Foundation

/// How `ModelFile.open` treats a file.
public struct OpenOptions: Sendable {
    /// Check each tensor's CRC32C the first time it is used in this process (`bytes(of:)`, or
    /// ahead of use with `verifyChecksums(of:parallel:)`): on by default, so a flipped byte in
    /// a weight is an error naming the tensor, never a wrong result. Reads the stored bytes
    /// once, at several GB/s per thread with the hardware CRC.
    public var verifyTensorChecksumsOnFirstUse: Bool
    /// Map every page at open (`MAP_POPULATE`): one kernel call instead of a page fault per
    /// 4 KiB on first use. For callers that will read the whole file anyway (the engine).
    public var prefault: Bool

    public init(verifyTensorChecksumsOnFirstUse: Bool = true) {
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
            try check(entry, actual: CRC32C.checksum(stored))
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

    /// Compares `entry`'s checksum with `actual` and remembers it as checked (under `lock`).
    private func check(_ entry: TensorEntry, actual: UInt32) throws {
        guard actual == entry.checksum else {
            throw ModelFileError.tensorChecksumMismatch(path: path, tensor: entry.name, expected: entry.checksum, actual: actual)
        }
        checked.insert(entry.index)
    }

    /// Whether `entry`'s checksum was already checked in this process.
    public func isChecked(_ entry: TensorEntry) -> Bool {
        lock.lock(); defer { lock.unlock() }
        return checked.contains(entry.index)
    }

    /// Checks the CRC32C of every entry in `entries` not checked yet, now, with the work cut
    /// into slices of about `sliceBytes` that `parallel` spreads over threads (`parallel(n, body)`
    /// must call `body(i)` once for every `i` in `0..<n`, possibly concurrently, and return when
    /// all are done: e.g. a thread pool's `parallelFor`). Slices of one tensor are joined with
    /// `CRC32C.combine`, so one large tensor is split too. Later `bytes(of:)` calls do not read
    /// them again. Does nothing when checks are off (`OpenOptions`).
    /// - Throws: `ModelFileError.tensorChecksumMismatch` for the first corrupt tensor in file order.
    public func verifyChecksums(of entries: [TensorEntry], sliceBytes: Int = 4 << 20,
                                parallel: (Int, (Int) -> Void) -> Void) throws {
        guard options.verifyTensorChecksumsOnFirstUse else { return }
        let pending = entries.filter { !isChecked($0) && $0.index >= 0 && $0.index < tensors.count && tensors[$0.index] == $0 }
            .sorted { $0.offset < $1.offset }
        guard !pending.isEmpty else { return }
        let slice = max(4096, sliceBytes)
        var work: [(entry: Int, range: Range<Int>)] = []
        for (e, entry) in pending.enumerated() {
            var start = 0
            repeat {
                let end = min(entry.storedLength, start + slice)
                work.append((e, start..<end))
                start = end
            } while start < entry.storedLength
        }
        let crcs = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: work.count)
        defer { crcs.deallocate() }
        crcs.initialize(repeating: 0)
        parallel(work.count) { i in
            let (e, range) = work[i]
            let stored = storedBytes(of: pending[e])
            crcs[i] = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: stored[range]))
        }
        lock.lock()
        defer { lock.unlock() }
        var i = 0
        for (e, entry) in pending.enumerated() {
            var crc: UInt32 = 0
            while i < work.count && work[i].entry == e {
                crc = CRC32C.combine(crc, crcs[i], lengthOfB: work[i].range.count)
                i += 1
            }
            try check(entry, actual: crc)
        }
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
