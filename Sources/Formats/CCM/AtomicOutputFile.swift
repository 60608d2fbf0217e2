import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// A file that appears under its final name only when complete: written as a temporary in
// the target folder, fsynced, then renamed over the target. Dropped without `commit`, the
// temporary is removed and the target is untouched.

final class AtomicOutputFile {
    let target: String
    let tempPath: String
    private var fd: Int32
    private var committed = false
    /// Bytes written so far (the file is written sequentially, except the final header patch).
    private(set) var position = 0

    init(target: String) throws {
        var st = stat()
        if stat(target, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { throw ModelWriterError.outputIsDirectory(path: target) }
        if target.hasSuffix("/") { throw ModelWriterError.outputIsDirectory(path: target) }
        let folder = (target as NSString).deletingLastPathComponent
        let dir = folder.isEmpty ? "." : folder
        guard stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { throw ModelWriterError.folderMissing(path: dir) }
        self.target = target
        let base = (target as NSString).lastPathComponent
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        tempPath = (dir as NSString).appendingPathComponent(".\(base).tmp-\(getpid())-\(suffix)")
        fd = open(tempPath, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ModelWriterError.ioFailed(path: target, operation: "creating \(tempPath)", reason: Self.errnoText()) }
    }

    deinit { if !committed { discard() } }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    func write(_ buffer: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = systemWrite(fd, buffer.baseAddress! + done, buffer.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw ModelWriterError.ioFailed(path: target, operation: "writing", reason: Self.errnoText())
            }
            done += n
        }
        position += buffer.count
    }

    func write(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Zero bytes up to the next multiple of `alignment`.
    func pad(to alignment: Int) throws {
        let n = alignUp(position, alignment) - position
        if n > 0 { try write([UInt8](repeating: 0, count: n)) }
    }

    /// Overwrites bytes already written (the header, once the tables are known).
    func patch(_ bytes: [UInt8], at offset: Int) throws {
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard n == bytes.count else { throw ModelWriterError.ioFailed(path: target, operation: "writing the header", reason: Self.errnoText()) }
    }

    /// Flushes to disk, runs `check` on the complete temporary file, then renames it over the target.
    func commit(check: (String) throws -> Void) throws {
        guard fsync(fd) == 0 else { throw ModelWriterError.ioFailed(path: target, operation: "fsync", reason: Self.errnoText()) }
        let closed = close(fd)
        fd = -1
        guard closed == 0 else { throw ModelWriterError.ioFailed(path: target, operation: "close", reason: Self.errnoText()) }
        try check(tempPath)
        guard rename(tempPath, target) == 0 else {
            throw ModelWriterError.ioFailed(path: target, operation: "renaming \(tempPath) to the target", reason: Self.errnoText())
        }
        committed = true
        // Make the rename itself durable.
        let folder = (target as NSString).deletingLastPathComponent
        let dirfd = open(folder.isEmpty ? "." : folder, O_RDONLY | O_CLOEXEC)
        if dirfd >= 0 { _ = fsync(dirfd); close(dirfd) }
    }

    /// Removes the temporary file.
    func discard() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(tempPath)
    }
}

/// `write(2)`, named so it does not collide with the method above.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buffer, count)
    #else
    return Darwin.write(fd, buffer, count)
    #endif
}
