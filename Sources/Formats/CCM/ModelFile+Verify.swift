// Full verification: everything `open` checks, plus every tensor's checksum, zstd frames
// that decode to exactly their declared size, and zero bytes wherever nothing is stored.

/// One thing `ModelFile.verify()` found wrong.
public struct VerifyProblem: Sendable, Equatable, CustomStringConvertible {
    /// What is affected: `tensor 'name'`, `file structure`, `padding`.
    public let subject: String
    public let error: ModelFileError

    public init(subject: String, error: ModelFileError) {
        self.subject = subject
        self.error = error
    }

    public var description: String { "\(subject): \(error.description)" }
}

extension ModelFile {
    /// Checks every structural rule, every tensor checksum and the decodability of every
    /// compressed tensor. An empty result means the file is sound.
    public func verify() -> [VerifyProblem] {
        var problems: [VerifyProblem] = []
        // The map is private, but the file under it may have been rewritten in place since open.
        do {
            _ = try FileLayout.parse(map.bytes, path: path)
        } catch let error as ModelFileError {
            problems.append(VerifyProblem(subject: "file structure", error: error))
            return problems
        } catch {
            problems.append(VerifyProblem(subject: "file structure",
                                          error: .malformed(path: path, section: "file", reason: "\(error)")))
            return problems
        }
        for t in tensors {
            let stored = storedBytes(of: t)
            let actual = CRC32C.checksum(stored)
            guard actual == t.checksum else {
                problems.append(VerifyProblem(subject: "tensor '\(t.name)'", error:
                    .tensorChecksumMismatch(path: path, tensor: t.name, expected: t.checksum, actual: actual)))
                continue
            }
            guard t.encoding != .raw, t.byteCount > 0 else { continue }
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: t.byteCount, alignment: 64)
            defer { scratch.deallocate() }
            do {
                try decode(t, from: stored, into: scratch)
            } catch let error as ModelFileError {
                problems.append(VerifyProblem(subject: "tensor '\(t.name)'", error: error))
            } catch {
                problems.append(VerifyProblem(subject: "tensor '\(t.name)'", error:
                    .decodeFailed(path: path, tensor: t.name, reason: "\(error)")))
            }
        }
        if let padding = nonZeroUnusedBytes() {
            problems.append(VerifyProblem(subject: "padding", error: .unaccountedBytes(path: path, what: padding)))
        }
        return problems
    }

    /// Describes the first non-zero byte that belongs to no header, table, section or tensor.
    private func nonZeroUnusedBytes() -> String? {
        var used: [(start: Int, end: Int)] = [(0, CCMFormatSpec.headerLength)]
        used.append((layout.sectionTableOffset, layout.sectionTableOffset + layout.sectionTableLength))
        for s in sections where s.knownKind != .tensorData { used.append((s.offset, s.offset + s.length)) }
        for t in tensors { used.append((t.offset, t.offset + t.storedLength)) }
        used.sort { $0.start < $1.start }
        var cursor = 0
        let bytes = map.bytes
        for span in used + [(bytes.count, bytes.count)] {
            if span.start > cursor {
                var i = cursor
                while i < span.start {
                    if bytes[i] != 0 {
                        return "non-zero byte at offset \(i), which belongs to no section or tensor (padding must be zero)"
                    }
                    i += 1
                }
            }
            cursor = max(cursor, span.end)
        }
        return nil
    }
}
