import CArchive
import Foundation

/// Streams the samples of one WebDataset tar shard through libarchive, never extracting
/// anything to disk: members are grouped into samples by key (the member name up to the first
/// dot of its last component, as webdataset does: `000123.jpg`, `000123.txt` → sample `000123`),
/// and a sample's image is its first `.jpg`/`.jpeg`/`.png` member, read into memory only when
/// `decide` wants the sample and only up to `maxMemberBytes`. Everything wrong with the
/// archive becomes a failure item: an unsafe member name (absolute, or with a `..` component),
/// an image member over the cap, a sample without an image, a member that is not a regular
/// file, a truncated or corrupt archive (one item, then the rest of this archive is given up).
///
/// libarchive's C API is the only pointer-level code here (this is the I/O layer, like the
/// model file's mmap layer); it stays inside this type.
final class WebDatasetReader {
    let path: String
    private let maxMemberBytes: Int
    private var archive: OpaquePointer?
    /// Called once per sample (and per archive-level error) with its ordinal in this archive:
    /// true to read it and produce its item, false to skip its data.
    private let decide: (Int) -> Bool
    private var ordinal = 0
    private var finished = false
    /// The sample being gathered: its key, whether it is wanted, and what was found so far.
    private var current: Sample?
    /// An item already complete, to return before reading further (a sample that ended when
    /// the next one began, then the archive error).
    private var ready: [BulkItem] = []

    private struct Sample {
        let key: String
        let wanted: Bool
        var imageName: String?
        var image: [UInt8]?
        var problem: String?
        var otherExtensions: [String] = []
    }

    /// Samples and archive errors seen so far (the ordinals used).
    var ordinalsUsed: Int { ordinal }

    init(path: String, maxMemberBytes: Int, decide: @escaping (Int) -> Bool) {
        self.path = path
        self.maxMemberBytes = maxMemberBytes
        self.decide = decide
    }

    deinit { if let archive { archive_read_free(archive) } }

    /// The next item of this archive, or nil when it is exhausted (or given up after an error).
    func next() -> BulkItem? {
        while ready.isEmpty && !finished { step() }
        return ready.isEmpty ? nil : ready.removeFirst()
    }

    private func open() -> Bool {
        guard let a = archive_read_new() else { fail("libarchive could not allocate a reader"); return false }
        archive = a
        archive_read_support_format_tar(a)
        archive_read_support_format_gnutar(a)
        archive_read_support_filter_gzip(a)
        archive_read_support_filter_zstd(a)
        guard archive_read_open_filename(a, path, 1 << 16) == ARCHIVE_OK else {
            fail("cannot open the tar archive (\(message(a))); check the path and that it is a tar file")
            return false
        }
        return true
    }

    /// Reads one member header (and its data when needed).
    private func step() {
        if archive == nil && !open() { return }
        guard let a = archive else { return }
        var entry: OpaquePointer?
        let status = archive_read_next_header(a, &entry)
        if status == ARCHIVE_EOF {
            closeSample()
            finished = true
            return
        }
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
            closeSample()
            fail("the tar archive is truncated or corrupt after \(ordinal) sample(s) (\(message(a))); the rest of it was not read: re-copy or re-create it")
            return
        }
        let name = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
        let type = archive_entry_filetype(entry)
        if type == S_IFDIR { return }
        let (key, ext) = Self.split(name)
        if current?.key != key {
            closeSample()
            let wanted = decide(ordinal)
            ordinal += 1
            current = Sample(key: key, wanted: wanted)
        }
        guard var sample = current, sample.wanted else { return }
        defer { current = sample }
        let isImage = FolderListing.imageExtensions.contains(ext.lowercased())
        if let problem = Self.unsafeNameProblem(name) {
            if sample.problem == nil { sample.imageName = name }
            sample.problem = sample.problem ?? "member '\(Self.printable(name))' \(problem); it was not read"
            return
        }
        guard isImage, sample.image == nil, sample.problem == nil else {
            if !ext.isEmpty { sample.otherExtensions.append(ext) }
            return
        }
        sample.imageName = name
        guard type == S_IFREG else {
            sample.problem = "member '\(Self.printable(name))' is not a regular file (a link or special entry); it was not read"
            return
        }
        let declared = archive_entry_size_is_set(entry) != 0 ? Int(archive_entry_size(entry)) : -1
        if declared > maxMemberBytes {
            sample.problem = "member '\(Self.printable(name))' declares \(declared) bytes, over the \(maxMemberBytes)-byte limit for one image (--max-member-bytes); it was not read"
            return
        }
        switch readData(a) {
        case .success(let bytes):
            sample.image = bytes
        case .failure(let problem):
            sample.problem = "member '\(Self.printable(name))' \(problem)"
        }
    }

    private enum ReadError: Error { case problem(String) }

    private enum DataResult {
        case success([UInt8])
        case failure(String)
    }

    /// The current member's bytes, at most `maxMemberBytes`.
    private func readData(_ a: OpaquePointer) -> DataResult {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { archive_read_data(a, $0.baseAddress, $0.count) }
            if n == 0 { return .success(bytes) }
            if n < 0 { return .failure("cannot be read (\(message(a)))") }
            if bytes.count + n > maxMemberBytes {
                return .failure("is over the \(maxMemberBytes)-byte limit for one image (--max-member-bytes)")
            }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }

    /// Turns the sample being gathered into its item, if it was wanted.
    private func closeSample() {
        guard let sample = current else { return }
        current = nil
        guard sample.wanted else { return }
        let file = path + "/" + Self.printable(sample.imageName ?? sample.key)
        if let problem = sample.problem {
            ready.append(BulkItem(key: sample.key, file: file, payload: .failure("\(path): \(problem)")))
        } else if let image = sample.image {
            ready.append(BulkItem(key: sample.key, file: file, payload: .image(.encoded(bytes: image, name: file))))
        } else {
            let found = sample.otherExtensions.isEmpty ? "no members with an extension" : "only ." + sample.otherExtensions.joined(separator: ", .")
            ready.append(BulkItem(key: sample.key, file: file,
                                  payload: .failure("\(path): sample '\(Self.printable(sample.key))' has no .jpg, .jpeg or .png member (\(found))")))
        }
    }

    /// An archive-level problem: one failure item (if its ordinal is wanted), then the end.
    private func fail(_ problem: String) {
        finished = true
        let wanted = decide(ordinal)
        ordinal += 1
        if wanted { ready.append(BulkItem(key: path, file: path, payload: .failure("\(path): \(problem)"))) }
    }

    private func message(_ a: OpaquePointer) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "no reason given"
    }

    /// WebDataset's split of a member name into the sample key and the extension.
    static func split(_ name: String) -> (key: String, ext: String) {
        let slash = name.lastIndex(of: "/").map { name.index(after: $0) } ?? name.startIndex
        guard let dot = name[slash...].firstIndex(of: ".") else { return (name, "") }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }

    /// Why a member name is refused, or nil: names that would escape a folder if extracted are
    /// a sign of a crafted archive (nothing is ever extracted, but they are reported, not used).
    static func unsafeNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "has an empty name" }
        if name.hasPrefix("/") { return "has an absolute name" }
        if name.split(separator: "/").contains("..") { return "has a '..' component (a path traversal name)" }
        if name.unicodeScalars.contains(where: { $0.value < 0x20 }) { return "has control characters in its name" }
        return nil
    }

    /// A name safe to print on one line.
    static func printable(_ name: String) -> String {
        String(String.UnicodeScalarView(name.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }))
    }
}
