import CCMFormat
import Foundation

/// Turns model-file tensors into `WeightTensor`s once, shared by every graph and session.
/// Raw tensors point into the memory map; zstd tensors are decompressed by the file on first use.
final class WeightCache: @unchecked Sendable {
    private let file: ModelFile
    private var cache: [String: WeightTensor] = [:]
    private let lock = NSLock()

    init(file: ModelFile) { self.file = file }

    /// The weight called `name`, or nil when the file has no such tensor.
    func weight(named name: String) throws -> WeightTensor? {
        lock.lock(); defer { lock.unlock() }
        return try load(name)
    }

    private func load(_ name: String) throws -> WeightTensor? {
        if let w = cache[name] { return w }
        guard let entry = file.tensor(named: name) else { return nil }
        var scales: WeightTensor? = nil
        if let q = entry.quantization {
            guard let s = try load(q.scalesTensor) else {
                throw ExecutorError.unknownValue(graph: "-", node: name, value: q.scalesTensor)
            }
            scales = s
        }
        let bytes = try file.bytes(of: entry)
        let w = WeightTensor(name: name, dtype: entry.dtype, shape: Shape(entry.shape), bytes: bytes,
                             quantization: entry.quantization, scales: scales, owner: file)
        cache[name] = w
        return w
    }
}
