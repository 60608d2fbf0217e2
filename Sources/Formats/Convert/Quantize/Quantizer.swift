import CCMFormat
import Foundation

/// Rewrites a float `.ccm` model into an int8 one (`clipcapctl quantize`, docs/INT8.md).
///
/// Every `linear` node whose weight is a float tensor becomes `linear_i8` with inputs
/// `(x, w_i8 [N, K], scales, bias)` and the same `activation`; `io` weights are transposed to
/// `[N, K]`. The tied LM head gets its own int8 copy of `wte` while `gather` keeps the float
/// table (unless `quantizeEmbeddings`). Norms, biases and embeddings stay float; float weights
/// no node uses any more are dropped. The output is streamed one tensor at a time and written
/// atomically.
public enum Quantizer {
    /// Quantizes `input` into `output`.
    /// - Parameter progress: called after each output tensor with (written, total).
    /// - Throws: `QuantizeError`.
    public static func quantize(input: String, output: String, options: QuantizeOptions = QuantizeOptions(),
                                progress: ((Int, Int) -> Void)? = nil) throws -> QuantizeReport {
        let inputURL = URL(fileURLWithPath: input).standardizedFileURL.resolvingSymlinksInPath()
        let outputURL = URL(fileURLWithPath: output).standardizedFileURL.resolvingSymlinksInPath()
        guard inputURL.path != outputURL.path, !FileIdentity.sameFile(input, output) else { throw QuantizeError.sameFile(path: output) }
        let file: ModelFile
        do {
            file = try ModelFile.open(path: input)
        } catch {
            throw QuantizeError.cannotOpen(path: input, reason: "\(error)")
        }
        let plan = try QuantizationPlan(file: file, options: options)
        guard !plan.targets.isEmpty else { throw QuantizeError.nothingToQuantize(path: input) }

        var metadata = file.metadata
        metadata["quantization.scheme"] = .string(options.scheme.attributeName)
        metadata["quantization.block_size"] = options.scheme.blockSize > 0 ? .int(Int64(options.scheme.blockSize)) : nil
        metadata["quantization.weights"] = .string("int8 symmetric [-127, 127], f32 scales")
        metadata["quantization.embeddings"] = .bool(options.quantizeEmbeddings)
        var writer = ModelWriter(metadata: metadata, graphs: plan.graphs, tokenizer: file.tokenizer)

        let collector = ErrorCollector()
        let targetsBySource = Dictionary(grouping: plan.targets, by: \.source)
        let scheme = options.scheme
        for entry in file.tensors {
            if plan.copied.contains(where: { $0.name == entry.name }) {
                writer.add(TensorSource(name: entry.name, dtype: entry.dtype, shape: entry.shape, layout: entry.layout,
                                        encoding: entry.encoding, quantization: entry.quantization) {
                    Array(try file.bytes(of: entry))
                })
            }
            for target in targetsBySource[entry.name] ?? [] {
                let info = QuantizationInfo(scheme: scheme.attributeName, scalesTensor: target.scalesName,
                                            axis: 0, blockSize: scheme.blockSize)
                writer.add(TensorSource(name: target.name, dtype: .i8, shape: [target.rows, target.cols], quantization: info) {
                    let q = try quantizeTarget(target, entry: entry, file: file, scheme: scheme, collector: collector)
                    return q.withUnsafeBytes { Array($0) }
                })
                let scaleCount = scheme.blockSize > 0 ? target.rows * ((target.cols + scheme.blockSize - 1) / scheme.blockSize) : target.rows
                let scaleShape = scheme.blockSize > 0 ? [target.rows, scaleCount / max(target.rows, 1)] : [target.rows]
                writer.add(TensorSource(name: target.scalesName, dtype: .f32, shape: scaleShape) {
                    let scales = try collector.takeScales(target.name) ?? {
                        _ = try quantizeTarget(target, entry: entry, file: file, scheme: scheme, collector: collector)
                        return collector.takeScales(target.name) ?? []
                    }()
                    return scales.withUnsafeBytes { Array($0) }
                })
            }
        }
        do {
            try writer.write(to: output, progress: progress)
        } catch {
            throw QuantizeError.writeFailed(path: output, reason: "\(error)")
        }
        let outputSize = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        return QuantizeReport(inputPath: input, outputPath: output, scheme: scheme, inputBytes: file.fileSize,
                              outputBytes: outputSize, quantizedNodes: plan.quantizedNodes, keptNodes: plan.keptNodes,
                              quantizedEmbeddings: plan.quantizedEmbeddings, droppedTensors: plan.dropped,
                              errors: collector.stats)
    }

    /// Reads, orients, quantizes one weight; records its error and parks its scales for the
    /// scales tensor that follows it.
    private static func quantizeTarget(_ target: QuantizationPlan.Target, entry: TensorEntry, file: ModelFile,
                                       scheme: QuantizationScheme, collector: ErrorCollector) throws -> [Int8] {
        let bytes: UnsafeRawBufferPointer
        do {
            bytes = try file.bytes(of: entry)
        } catch {
            throw QuantizeError.badWeight(path: file.path, tensor: entry.name, reason: "\(error)")
        }
        guard let raw = FloatDecoding.floats(bytes, dtype: entry.dtype, count: target.rows * target.cols) else {
            throw QuantizeError.badWeight(path: file.path, tensor: entry.name, reason: "\(entry.dtype) is not a float type or the bytes are short")
        }
        let values = target.transpose ? WeightQuantization.transpose(raw, rows: target.cols, cols: target.rows) : raw
        let (q, scales) = WeightQuantization.quantize(values, rows: target.rows, cols: target.cols, scheme: scheme)
        let restored = WeightQuantization.dequantize(q, scales: scales, rows: target.rows, cols: target.cols, scheme: scheme)
        let e = WeightQuantization.errorStats(original: values, reconstructed: restored)
        collector.record(WeightErrorStats(tensor: target.name, source: target.source, shape: [target.rows, target.cols],
                                          maxAbsError: e.maxAbs, relativeRMSError: e.relativeRMS, cosine: e.cosine),
                         scales: scales)
        return q
    }
}

/// Collects per-tensor errors and hands scales from an int8 tensor's provider to its scales'
/// provider (the writer calls providers one after another, in order).
final class ErrorCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [String: [Float]] = [:]
    private(set) var stats: [WeightErrorStats] = []

    func record(_ s: WeightErrorStats, scales: [Float]) {
        lock.lock(); defer { lock.unlock() }
        if !stats.contains(where: { $0.tensor == s.tensor }) { stats.append(s) }
        pending[s.tensor] = scales
    }

    func takeScales(_ name: String) -> [Float]? {
        lock.lock(); defer { lock.unlock() }
        return pending.removeValue(forKey: name)
    }
}

/// Widening of stored float tensors to `Float`.
enum FloatDecoding {
    /// `count` elements of `bytes` as `Float`, or `nil` for a non-float type or short buffer.
    static func floats(_ bytes: UnsafeRawBufferPointer, dtype: DType, count: Int) -> [Float]? {
        guard bytes.count >= count * dtype.size else { return nil }
        var out = [Float](repeating: 0, count: count)
        switch dtype {
        case .f32:
            out.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<(count * 4)])) }
        case .f16:
            for i in 0..<count { out[i] = Float(Float16(bitPattern: bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) }
        case .bf16:
            for i in 0..<count { out[i] = Float(bitPattern: UInt32(bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16) }
        default:
            return nil
        }
        return out
    }
}
