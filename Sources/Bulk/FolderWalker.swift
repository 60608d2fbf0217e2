import Foundation

/// The image files of a folder tree: recursive, symbolic links followed (each real folder
/// visited once, so a link cycle ends), hidden entries (`.x`, which includes macOS's `._x.jpg`
/// AppleDouble sidecars) and OS clutter (`__MACOSX`, `Thumbs.db`, `desktop.ini`) skipped.
/// Paths are sorted by their bytes, so every machine lists a tree in the same order.
public struct FolderListing: Sendable {
    /// `.jpg`, `.jpeg` and `.png` files (any case).
    public var images: [String] = []
    /// Other regular files, counted (and listed with `--verbose`).
    public var unsupported: [String] = []

    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]
    static let clutter: Set<String> = ["__MACOSX", "Thumbs.db", "desktop.ini", "ehthumbs.db", "$RECYCLE.BIN", "System Volume Information"]

    public static func isImageName(_ name: String) -> Bool {
        imageExtensions.contains((name as NSString).pathExtension.lowercased())
    }

    /// Whether a folder entry is skipped silently (neither an image nor counted as unsupported).
    public static func isSkipped(_ name: String) -> Bool { name.hasPrefix(".") || clutter.contains(name) }

    public init(folder: String) throws {
        var seen = Set<FileIdentity>()
        guard let root = FileIdentity(path: folder) else {
            throw BulkInputError("\(folder): cannot read the folder (\(String(cString: strerror(errno))))")
        }
        seen.insert(root)
        try walk(folder, seen: &seen)
        images.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        unsupported.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    private mutating func walk(_ folder: String, seen: inout Set<FileIdentity>) throws {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw BulkInputError("\(folder): cannot list the folder (\(error.localizedDescription)); check its permissions")
        }
        for name in names where !Self.isSkipped(name) {
            let path = folder.hasSuffix("/") ? folder + name : folder + "/" + name
            var info = stat()
            // stat, not lstat: symbolic links are followed; a dangling link is listed as unsupported.
            guard stat(path, &info) == 0 else { unsupported.append(path); continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                guard seen.insert(FileIdentity(info)).inserted else { continue }
                try walk(path, seen: &seen)
            case S_IFREG:
                if Self.isImageName(name) { images.append(path) } else { unsupported.append(path) }
            default:
                // FIFOs, sockets, devices: an image name still goes to the engine, which says why it refuses.
                if Self.isImageName(name) { images.append(path) } else { unsupported.append(path) }
            }
        }
    }
}

/// A file's device and inode: the same folder reached through two links has one identity.
struct FileIdentity: Hashable {
    let device: UInt64
    let inode: UInt64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.init(info)
    }
}
