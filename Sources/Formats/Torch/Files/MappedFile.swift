import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file.
///
/// This is the only place in `TorchFormats` that touches raw pointers: every read is
/// bounds-checked against the file size here, so the parsers above work on `[UInt8]`
/// copies of small regions and never see a pointer. Tensors are copied out one at a time
/// (`SourceTensor.bytes()`), so resident memory stays at one tensor plus reclaimable
/// file-backed pages.
final class MappedFile: @unchecked Sendable {
    // @unchecked: the mapping is immutable (PROT_READ, MAP_PRIVATE) for the object's lifetime.
    let path: String
    let size: Int
    private let base: UnsafeRawPointer?

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CheckpointError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw CheckpointError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError.cannotOpen(path: path, reason: "not a regular file")
        }
        size = Int(info.st_size)
        if size == 0 {
            base = nil
            return
        }
        let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw CheckpointError.cannotOpen(path: path, reason: "mmap failed: " + String(cString: strerror(errno)))
        }
        base = UnsafeRawPointer(mapped)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// True when `range` lies inside the file.
    func contains(_ range: Range<Int>) -> Bool {
        range.lowerBound >= 0 && range.upperBound <= size
    }

    /// Copies `range` out of the file; `what` names the region for the truncation error.
    func bytes(_ range: Range<Int>, what: String) throws -> [UInt8] {
        guard contains(range) else {
            throw CheckpointError.truncated(path: path, what: what)
        }
        guard let base, !range.isEmpty else { return [] }
        return Array(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// Offsets of `signature` inside `range`, last match first (for end-of-archive records).
    func offsetsOf(_ signature: [UInt8], searchingBackwardIn range: Range<Int>) -> [Int] {
        guard let base, contains(range), signature.count > 0, range.count >= signature.count else { return [] }
        var found: [Int] = []
        var position = range.upperBound - signature.count
        let first = signature[0]
        while position >= range.lowerBound {
            if base.load(fromByteOffset: position, as: UInt8.self) == first,
               signature.indices.allSatisfy({ base.load(fromByteOffset: position + $0, as: UInt8.self) == signature[$0] }) {
                found.append(position)
            }
            position -= 1
        }
        return found
    }

    /// Copies the elements of a strided view out of `storage` (a byte range of the file) into
    /// contiguous row-major order. `offset` and `strides` count elements of `elementSize` bytes.
    /// The caller has validated the view; it is checked again here because this is the
    /// layer that dereferences memory.
    func gather(storage: Range<Int>, elementSize: Int, offset: Int, shape: [Int], strides: [Int],
                what: String) throws -> [UInt8] {
        guard contains(storage), shape.count == strides.count, elementSize > 0, offset >= 0 else {
            throw CheckpointError.truncated(path: path, what: what)
        }
        guard let extent = StridedExtent(offset: offset, shape: shape, strides: strides) else {
            throw CheckpointError.badTensor(path: path, tensor: what, reason: "its size or strides overflow")
        }
        guard extent.count > 0 else { return [] }
        let (endBytes, overflow) = extent.endElement.multipliedReportingOverflow(by: elementSize)
        guard !overflow, endBytes <= storage.count, let base else {
            throw CheckpointError.badTensor(path: path, tensor: what,
                                            reason: "its view reaches past the end of its storage")
        }
        let totalBytes = extent.count * elementSize   // cannot overflow: count <= endElement
        let start = base + storage.lowerBound
        if extent.isContiguous {
            return Array(UnsafeRawBufferPointer(start: start + offset * elementSize, count: totalBytes))
        }
        return [UInt8](unsafeUninitializedCapacity: totalBytes) { out, initialized in
            initialized = 0
            guard let dst = out.baseAddress else { return }
            var index = [Int](repeating: 0, count: shape.count)
            var source = offset
            var written = 0
            let last = shape.count - 1
            // Innermost dimension as a run of copies; odometer over the outer dimensions.
            while written < totalBytes {
                if last < 0 {
                    memcpy(dst + written, start + source * elementSize, elementSize)
                    written += elementSize
                    break
                }
                var s = source
                for _ in 0..<shape[last] {
                    memcpy(dst + written, start + s * elementSize, elementSize)
                    written += elementSize
                    s += strides[last]
                }
                var dim = last - 1
                while dim >= 0 {
                    index[dim] += 1
                    source += strides[dim]
                    if index[dim] < shape[dim] { break }
                    source -= strides[dim] * shape[dim]
                    index[dim] = 0
                    dim -= 1
                }
                if dim < 0 { break }
            }
            initialized = written
        }
    }
}

/// The element span of a strided view: how many elements it has, one past the highest
/// element index it touches, and whether it is plain row-major.
struct StridedExtent {
    let count: Int
    let endElement: Int
    let isContiguous: Bool

    /// Nil when a size or stride is negative or a product overflows.
    init?(offset: Int, shape: [Int], strides: [Int]) {
        guard offset >= 0, shape.count == strides.count else { return nil }
        var count = 1
        var maxIndex = offset
        for (size, stride) in zip(shape, strides) {
            guard size >= 0, stride >= 0 else { return nil }
            let (c, o1) = count.multipliedReportingOverflow(by: size)
            guard !o1 else { return nil }
            count = c
            if size > 0 {
                let (span, o2) = (size - 1).multipliedReportingOverflow(by: stride)
                let (m, o3) = maxIndex.addingReportingOverflow(span)
                guard !o2, !o3 else { return nil }
                maxIndex = m
            }
        }
        self.count = count
        self.endElement = count == 0 ? offset : maxIndex + 1
        var expected = 1
        var contiguous = true
        for (size, stride) in zip(shape, strides).reversed() where size != 1 {
            if stride != expected { contiguous = false; break }
            expected *= size
        }
        self.isContiguous = contiguous
    }
}
