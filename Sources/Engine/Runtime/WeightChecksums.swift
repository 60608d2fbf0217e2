import CCMFormat
import Foundation

/// Checks the CRC32C of every tensor the graphs read, once per process, when the model loads:
/// that is the weights' first use (backends prepare some of them while kernels are built), so a
/// flipped byte is an error naming the tensor instead of a wrong caption. The work is spread
/// over the load's threads, large tensors split and their slices' CRCs combined.
enum WeightChecksums {
    /// Bytes checked between releases under the streaming residencies, so that checking never
    /// maps more of the file at once than about this much (the session maps each phase's pages
    /// again ahead of it).
    static let batchBytes = 64 << 20

    /// Checks the tensors and says how many, how many stored bytes, and how long it took.
    @discardableResult
    static func verify(_ file: ModelFile, threads: Int, releaseBehind: Bool) throws -> ChecksumReport {
        let start = DispatchTime.now().uptimeNanoseconds
        var names = Set<String>()
        for graph in file.graphs {
            for node in graph.nodes {
                for input in node.inputs where !input.isEmpty {
                    guard let entry = file.tensor(named: input) else { continue }
                    names.insert(entry.name)
                    if let scales = entry.quantization?.scalesTensor { names.insert(scales) }
                }
            }
        }
        let entries = names.compactMap { file.tensor(named: $0) }.sorted { $0.offset < $1.offset }
        guard !entries.isEmpty else { return ChecksumReport(tensors: 0, bytes: 0, seconds: 0) }
        let pool = ThreadPool(threads: threads, watchForWork: false)
        var batch: [TensorEntry] = []
        var filled = 0
        func flush() throws {
            guard !batch.isEmpty else { return }
            // Map the batch's pages in a few system calls (MADV_POPULATE_READ, over the threads)
            // rather than one page fault per 4 KiB as the CRC reads them.
            let pages = file.pages(ofTensors: Set(batch.map(\.name)))
            let parts = pages.split(into: pool.threads)
            pool.parallelFor(parts.count) { file.populate(parts[$0]) }
            try file.verifyChecksums(of: batch) { count, body in pool.parallelFor(count, body) }
            if releaseBehind { file.release(pages) }
            batch = []
            filled = 0
        }
        for entry in entries {
            batch.append(entry)
            filled += entry.storedLength
            if filled >= batchBytes { try flush() }
        }
        try flush()
        return ChecksumReport(tensors: entries.count, bytes: entries.reduce(0) { $0 + $1.storedLength },
                              seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}

/// What the checksum check at load did (`CaptionModel.checksums`, `caption --verbose`).
public struct ChecksumReport: Sendable {
    /// Tensors checked.
    public var tensors: Int
    /// Stored bytes read.
    public var bytes: Int
    /// Wall time of the check.
    public var seconds: Double
}
