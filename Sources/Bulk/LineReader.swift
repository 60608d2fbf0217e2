import Foundation

/// Reads a text file line by line in 1 MiB chunks, so a manifest of millions of rows is never
/// held whole. Lines end at LF; a CR before it is dropped; the last line may lack its LF.
final class LineReader {
    private let handle: FileHandle
    private var buffer = Data()
    private var atEnd = false
    let path: String
    /// 1-based number of the line `next()` returned last.
    private(set) var lineNumber = 0

    init(path: String) throws {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw BulkInputError("\(path): cannot open the file (\(String(cString: strerror(errno)))); check the path and its permissions")
        }
        self.handle = handle
    }

    deinit { try? handle.close() }

    /// Where the unread part of `buffer` starts (compacted only when a chunk is read).
    private var start = 0

    func next() throws -> String? {
        while true {
            if let newline = buffer[(buffer.startIndex + start)...].firstIndex(of: 0x0A) {
                let line = text(buffer[(buffer.startIndex + start)..<newline])
                start = newline + 1 - buffer.startIndex
                return line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = text(buffer[(buffer.startIndex + start)...])
                start = buffer.count
                return line
            }
            let chunk: Data?
            do { chunk = try handle.read(upToCount: 1 << 20) } catch {
                throw BulkInputError("\(path): cannot read the file (\(error.localizedDescription))")
            }
            buffer = Data(buffer[(buffer.startIndex + start)...])
            start = 0
            if let chunk, !chunk.isEmpty { buffer.append(chunk) } else { atEnd = true }
        }
    }

    private func text(_ bytes: Data) -> String {
        lineNumber += 1
        let trimmed = bytes.last == 0x0D ? bytes.dropLast() : bytes
        return String(decoding: trimmed, as: UTF8.self)
    }
}
