/// Reads safetensors files with the format's own validation rules: an 8-byte little-endian
/// header length, a JSON header of at most 100 MB (`ReaderLimits.maxSafetensorsHeaderBytes`),
/// no duplicate names, overflow-checked byte counts that match dtype x shape, and data
/// offsets that tile the data buffer exactly (no holes, no overlaps, nothing past the end).
enum SafetensorsReader {
    static func read(file: MappedFile, limits: ReaderLimits) throws -> CheckpointContents {
        let path = file.path
        func bad(_ reason: String) -> CheckpointError { .badSafetensors(path: path, reason: reason) }

        let lengthBytes = try file.bytes(0..<8, what: "the safetensors header length")
        guard let declared = lengthBytes.littleEndian(at: 0, count: 8) else { throw bad("no header length") }
        guard declared <= UInt64(limits.maxSafetensorsHeaderBytes) else {
            throw CheckpointError.limitExceeded(path: path, what: "the safetensors header (\(declared) bytes)",
                                                limit: limits.maxSafetensorsHeaderBytes)
        }
        let headerLength = Int(declared)
        guard headerLength <= file.size - 8 else {
            throw CheckpointError.truncated(path: path, what: "the safetensors header (\(headerLength) bytes)")
        }
        let headerBytes = try file.bytes(8..<8 + headerLength, what: "the safetensors header")
        guard headerBytes.first == UInt8(ascii: "{") else { throw bad("the header does not start with '{'") }
        let header = try JSONValue.parse(headerBytes, path: path, maxDepth: limits.maxJSONDepth)
        guard case .object(let members) = header else { throw bad("the header is not a JSON object") }

        let dataStart = 8 + headerLength
        let dataSize = file.size - dataStart
        var metadata: [String: String] = [:]
        var entries: [(name: String, element: StoredElement, shape: [Int], begin: Int, end: Int)] = []
        guard members.count <= limits.maxTensors + 1 else {
            throw CheckpointError.limitExceeded(path: path, what: "the number of tensors", limit: limits.maxTensors)
        }
        for (name, info) in members {
            if name == "__metadata__" {
                guard case .object(let fields) = info else { throw bad("__metadata__ is not an object") }
                for (key, value) in fields {
                    guard case .string(let text) = value else { throw bad("__metadata__ value \"\(key)\" is not a string") }
                    metadata[key] = text
                }
                continue
            }
            entries.append(try parseEntry(name, info, path: path, limits: limits, bad: bad))
        }

        // The tiling rule: sorted by start, each tensor starts where the previous one ended.
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var expectedStart = 0
        for entry in entries {
            guard entry.begin == expectedStart else {
                throw bad(entry.begin > expectedStart
                          ? "there is a gap before tensor \"\(entry.name)\" (bytes \(expectedStart)..<\(entry.begin) belong to no tensor)"
                          : "tensor \"\(entry.name)\" overlaps the previous tensor")
            }
            expectedStart = entry.end
        }
        guard expectedStart == dataSize else {
            throw expectedStart > dataSize
                ? CheckpointError.truncated(path: path, what: "the tensor data (\(expectedStart) bytes declared, \(dataSize) present)")
                : bad("\(dataSize - expectedStart) bytes at the end belong to no tensor")
        }

        var notes: [String] = []
        var converted: [String] = []
        let tensors = entries.map { entry -> SourceTensor in
            if entry.element.needsConversion || entry.element == .bool {
                converted.append("\(entry.name) (\(entry.element.rawValue) -> \(entry.element.dtype))")
            }
            let storage = (dataStart + entry.begin)..<(dataStart + entry.end)
            return SourceTensor(name: entry.name, dtype: entry.element.dtype, shape: entry.shape,
                                source: TensorSource(file: file, storage: storage, element: entry.element, offset: 0,
                                                     shape: entry.shape, strides: contiguousStrides(entry.shape) ?? [],
                                                     bigEndian: false))
        }
        if !converted.isEmpty { notes.append("converted on read: " + converted.prefix(10).joined(separator: ", ")) }
        return CheckpointContents(path: path, kind: .safetensors, tensors: tensors, notes: notes, metadata: metadata)
    }

    private static func parseEntry(_ name: String, _ info: JSONValue, path: String, limits: ReaderLimits,
                                   bad: (String) -> CheckpointError)
        throws -> (name: String, element: StoredElement, shape: [Int], begin: Int, end: Int) {
        guard case .object = info, let dtypeName = info["dtype"]?.stringValue,
              let shapeValues = info["shape"]?.arrayValue, let offsets = info["data_offsets"]?.arrayValue
        else { throw bad("tensor \"\(name)\" lacks dtype, shape or data_offsets") }
        guard let element = StoredElement(safetensorsName: dtypeName) else {
            throw CheckpointError.unsupportedDType(path: path, tensor: name, dtype: dtypeName)
        }
        guard shapeValues.count <= limits.maxDimensions else {
            throw bad("tensor \"\(name)\" has \(shapeValues.count) dimensions")
        }
        var shape: [Int] = []
        var count = 1
        for value in shapeValues {
            guard case .int(let size) = value, size >= 0, size <= Int64(Int.max) else {
                throw bad("tensor \"\(name)\" has a size that is not a non-negative integer")
            }
            let (next, overflow) = count.multipliedReportingOverflow(by: Int(size))
            guard !overflow else { throw bad("tensor \"\(name)\" has more elements than can be counted") }
            count = next
            shape.append(Int(size))
        }
        guard offsets.count == 2, case .int(let begin) = offsets[0], case .int(let end) = offsets[1],
              begin >= 0, end >= begin else {
            throw bad("tensor \"\(name)\" has invalid data_offsets")
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: element.size)
        guard !overflow, Int64(byteCount) == end - begin else {
            throw bad("tensor \"\(name)\" spans \(end - begin) bytes but \(dtypeName) \(shape) needs \(overflow ? "too many" : String(byteCount))")
        }
        return (name, element, shape, Int(begin), Int(end))
    }
}
