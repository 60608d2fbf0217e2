#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole file with POSIX calls so each failure maps to a precise `ImageError`
/// (missing, directory, unreadable, too large) and the size limit is checked before reading.
enum FileBytes {
    static func read(path: String, maxBytes: Int) throws -> [UInt8] {
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is rejected as not a file below).
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw ImageError.fileNotFound(path: path) }
            if code == EISDIR { throw ImageError.notAFile(path: path) }
            throw ImageError.unreadable(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ImageError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw ImageError.notAFile(path: path) }
        let size = Int(info.st_size)
        if size > maxBytes { throw ImageError.fileTooLarge(name: path, bytes: size, limit: maxBytes) }
        if size == 0 { throw ImageError.emptyFile(name: path) }

        var bytes = [UInt8](repeating: 0, count: size)
        var filled = 0
        try bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            while filled < size {
                let got = Glibc_read(fd, base + filled, size - filled)
                if got < 0 {
                    if errno == EINTR { continue }
                    throw ImageError.unreadable(path: path, reason: String(cString: strerror(errno)))
                }
                if got == 0 { break }  // file shrank while reading
                filled += got
            }
        }
        if filled == 0 { throw ImageError.emptyFile(name: path) }
        if filled < size { bytes.removeSubrange(filled...) }
        return bytes
    }
}

/// `read(2)`; named so it does not collide with `FileBytes.read`.
@inline(__always)
private func Glibc_read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.read(fd, buffer, count)
    #else
    return Darwin.read(fd, buffer, count)
    #endif
}
