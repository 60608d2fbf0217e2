import Foundation

/// Which part of the inputs one process captions: shard `index` of `count`.
public struct ShardSelection: Sendable, Equatable {
    public var count: Int
    public var index: Int

    public init(count: Int = 1, index: Int = 0) {
        self.count = count
        self.index = index
    }

    /// All inputs.
    public static let all = ShardSelection()
}

/// The inputs of a `caption` run, resolved from its arguments, and the items of one shard as a
/// lazy sequence: folders and `@lists` are listed up front, manifests and tar archives are
/// read as the items are consumed, so memory does not grow with their length.
///
/// Assignment to shards is by position, the same on every machine for the same arguments and
/// shard count: inputs other than tar members are dealt round-robin in input order (item
/// `k` goes to shard `k mod N`); when there are at least N tar archives, archive `j` goes whole
/// to shard `j mod N` (each process reads only its own archives), otherwise tar samples are
/// dealt round-robin with the other items.
public struct BulkInputs: Sendable {
    public enum Source: Sendable, Equatable {
        /// An image file (or a path the engine will refuse with its own message).
        case file(path: String, key: String)
        /// One image on standard input (`-`).
        case standardInput
        /// A `.txt`/`.tsv`/`.csv`/`.jsonl` manifest.
        case manifest(path: String)
        /// A WebDataset tar shard.
        case tar(path: String)
    }

    public private(set) var sources: [Source] = []
    /// Files in the given folders that are not images, for `--verbose`.
    public private(set) var unsupported: [String] = []
    public let columns: ManifestColumns
    public let maxMemberBytes: Int

    /// Default cap on one tar member or standard-input image: 256 MiB.
    public static let defaultMaxMemberBytes = 256 << 20

    /// Resolves the `caption` arguments: files, folders, `@list.txt` (one path per line,
    /// relative to the current folder), `-`, manifests and tar archives (brace patterns expand).
    /// Throws for what makes the whole run impossible (a missing folder, list or manifest, a
    /// manifest without its path column); a missing image file becomes that image's error.
    public init(arguments: [String], columns: ManifestColumns = ManifestColumns(), maxMemberBytes: Int = defaultMaxMemberBytes) throws {
        self.columns = columns
        self.maxMemberBytes = maxMemberBytes
        let fm = FileManager.default
        for argument in arguments {
            if argument == "-" { sources.append(.standardInput); continue }
            if argument.hasPrefix("@") && argument.count > 1 {
                try readList(String(argument.dropFirst()))
                continue
            }
            let names = argument.contains("{") && !fm.fileExists(atPath: argument) ? try BraceExpansion.expand(argument) : [argument]
            for name in names {
                var isDir: ObjCBool = false
                let exists = fm.fileExists(atPath: name, isDirectory: &isDir)
                if exists && isDir.boolValue {
                    let listing = try FolderListing(folder: name)
                    sources += listing.images.map { .file(path: $0, key: $0) }
                    unsupported += listing.unsupported
                } else if Self.isTar(name) {
                    sources.append(.tar(path: name))
                } else if ManifestReader.kind(of: name) != nil {
                    guard exists else { throw BulkInputError("\(name): no such manifest; check the path") }
                    _ = try ManifestReader(path: name, columns: columns)   // the header is checked before any work
                    sources.append(.manifest(path: name))
                } else if !exists && names.count == 1 && !FolderListing.isImageName(name) {
                    throw BulkInputError("\(name): no such file or folder")
                } else {
                    sources.append(.file(path: name, key: name))
                }
            }
        }
    }

    /// `.tar`, `.tar.gz`, `.tgz`, `.tar.zst`.
    public static func isTar(_ path: String) -> Bool {
        let lower = path.lowercased()
        return [".tar", ".tar.gz", ".tgz", ".tar.zst"].contains { lower.hasSuffix($0) }
    }

    private mutating func readList(_ path: String) throws {
        let reader = try LineReader(path: path)
        while let line = try reader.next() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            sources.append(.file(path: line, key: line))
        }
    }

    /// A digest of what the inputs are now: every listed path, and the size and modification
    /// time of each manifest and archive. Part of a shard's resume fingerprint, so a checkpoint
    /// is never applied to inputs that changed since (FNV-1a: an identity, not a security check).
    public var identity: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ text: String) {
            for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            hash = (hash ^ 0xff) &* 0x100_0000_01b3
        }
        for source in sources {
            switch source {
            case .file(let path, let key): mix("f"); mix(path); mix(key)
            case .standardInput: mix("-")
            case .manifest(let path), .tar(let path):
                mix(path)
                var info = stat()
                if stat(path, &info) == 0 { mix("\(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)") }
            }
        }
        return String(hash, radix: 16)
    }

    /// How many items a shard has, when that is known without reading manifests or archives.
    public func count(in shard: ShardSelection) -> Int? {
        guard sources.allSatisfy({ if case .file = $0 { return true }; if case .standardInput = $0 { return true }; return false }) else { return nil }
        let n = sources.count
        return n / shard.count + (shard.index < n % shard.count ? 1 : 0)
    }

    /// The items of `shard`, in input order, without the first `skip` (already done).
    public func items(of shard: ShardSelection, skipping skip: Int = 0) -> ShardItems {
        ShardItems(inputs: self, shard: shard, skip: skip)
    }
}

/// The items of one shard: a sequence that reads manifests and archives as it goes.
public struct ShardItems: Sequence, Sendable {
    let inputs: BulkInputs
    let shard: ShardSelection
    let skip: Int

    public func makeIterator() -> Iterator { Iterator(self) }

    public final class Iterator: IteratorProtocol {
        private let plan: ShardItems
        private var sourceIndex = 0
        /// Ordinal of the next dealt item (everything but tar archives given whole).
        private var dealt = 0
        private var tarsSeen = 0
        /// Items of this shard met so far (the first `skip` are passed over).
        private var mine = 0
        private let wholeTars: Bool
        private var manifest: ManifestReader?
        private var tar: WebDatasetReader?

        init(_ plan: ShardItems) {
            self.plan = plan
            let tars = plan.inputs.sources.filter { if case .tar = $0 { return true }; return false }.count
            wholeTars = tars >= plan.shard.count
        }

        /// Whether this shard takes the dealt item with this ordinal, counting it if so.
        private func takeDealt(_ ordinal: Int) -> Bool {
            guard ordinal % plan.shard.count == plan.shard.index else { return false }
            return takeMine()
        }

        /// Counts one item of this shard; false while resuming past the items already done.
        private func takeMine() -> Bool {
            mine += 1
            return mine > plan.skip
        }

        public func next() -> BulkItem? {
            while true {
                if let reader = manifest {
                    let item: BulkItem?
                    do { item = try reader.next() } catch {
                        manifest = nil
                        let ordinal = dealt; dealt += 1
                        if takeDealt(ordinal) { return BulkItem(key: reader.path, file: reader.path, payload: .failure("\(error)")) }
                        continue
                    }
                    guard let item else { manifest = nil; continue }
                    let ordinal = dealt; dealt += 1
                    if takeDealt(ordinal) { return item }
                    continue
                }
                if let reader = tar {
                    if let item = reader.next() { return item }
                    tar = nil
                    continue
                }
                guard sourceIndex < plan.inputs.sources.count else { return nil }
                let source = plan.inputs.sources[sourceIndex]
                sourceIndex += 1
                switch source {
                case .file(let path, let key):
                    let ordinal = dealt; dealt += 1
                    if takeDealt(ordinal) { return BulkItem(key: key, file: path, payload: .image(.file(path: path))) }
                case .standardInput:
                    let ordinal = dealt; dealt += 1
                    if takeDealt(ordinal) { return standardInputItem() }
                case .manifest(let path):
                    do { manifest = try ManifestReader(path: path, columns: plan.inputs.columns) } catch {
                        let ordinal = dealt; dealt += 1
                        if takeDealt(ordinal) { return BulkItem(key: path, file: path, payload: .failure("\(error)")) }
                    }
                case .tar(let path):
                    let index = tarsSeen
                    tarsSeen += 1
                    if wholeTars {
                        guard index % plan.shard.count == plan.shard.index else { continue }
                        tar = WebDatasetReader(path: path, maxMemberBytes: plan.inputs.maxMemberBytes) { [unowned self] _ in self.takeMine() }
                    } else {
                        tar = WebDatasetReader(path: path, maxMemberBytes: plan.inputs.maxMemberBytes) { [unowned self] _ in
                            let ordinal = self.dealt; self.dealt += 1
                            return self.takeDealt(ordinal)
                        }
                    }
                }
            }
        }

        private func standardInputItem() -> BulkItem {
            let limit = plan.inputs.maxMemberBytes
            var bytes: [UInt8] = []
            while let chunk = try? FileHandle.standardInput.read(upToCount: 1 << 20), !chunk.isEmpty {
                bytes.append(contentsOf: chunk)
                if bytes.count > limit {
                    return BulkItem(key: "-", file: "-", payload: .failure("-: standard input holds more than \(limit) bytes, over the limit for one image (--max-member-bytes)"))
                }
            }
            return BulkItem(key: "-", file: "-", payload: .image(.encoded(bytes: bytes, name: "-")))
        }
    }
}
