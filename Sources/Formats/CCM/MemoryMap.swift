#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The read-only memory map behind a ModelFile. The only place that calls open/mmap.

/// A whole file mapped `PROT_READ, MAP_PRIVATE`, unmapped at deinit.
final class MemoryMap: @unchecked Sendable {
    /// Never written after init; the mapping is read-only.
    let bytes: UnsafeRawBufferPointer

    init(path: String, prefault: Bool = false) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let e = errno
            if e == ENOENT || e == ENOTDIR { throw ModelFileError.notFound(path: path) }
            throw ModelFileError.cannotOpen(path: path, reason: String(cString: strerror(e)))
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw ModelFileError.isDirectory(path: path) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw ModelFileError.cannotOpen(path: path, reason: "not a regular file")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ModelFileError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        // Size from the descriptor we map, not from the earlier stat (the path may have been replaced).
        guard fstat(fd, &st) == 0 else { throw ModelFileError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        let size = Int(st.st_size)
        guard size > 0 else { throw ModelFileError.emptyFile(path: path) }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE | (prefault ? MAP_POPULATE : 0), fd, 0)
        guard let p, p != MAP_FAILED else {
            throw ModelFileError.cannotOpen(path: path, reason: "mmap failed: " + String(cString: strerror(errno)))
        }
        bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(p), count: size)
    }

    /// Drops this process's mappings of the pages in `range` (page-aligned offsets). Safe on
    /// this read-only private map: the pages stay in the page cache and the next read maps them
    /// again; only the process's resident set shrinks.
    func release(_ range: Range<Int>) { advise(range, MADV_DONTNEED) }

    /// Maps the pages in `range` in one system call (`MADV_POPULATE_READ`, Linux 5.14+), cheaper
    /// than faulting them in 64 KiB at a time; silently does nothing where unsupported.
    func populate(_ range: Range<Int>) {
        let populateRead: Int32 = 22  // MADV_POPULATE_READ; not in every libc's headers yet
        advise(range, populateRead)
    }

    /// `madvise` over `range` of the map (ignored when empty or outside it).
    private func advise(_ range: Range<Int>, _ advice: Int32) {
        guard let base = bytes.baseAddress, !range.isEmpty, range.upperBound <= bytes.count else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + range.lowerBound), range.count, advice)
    }

    /// The system's page size.
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
