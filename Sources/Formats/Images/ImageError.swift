/// Why an image could not be decoded. Every message names the file, says what is wrong and
/// what to do about it.
public enum ImageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// No file at this path.
    case fileNotFound(path: String)
    /// The path is a directory or another non-regular file.
    case notAFile(path: String)
    /// The file exists but could not be opened or read (permissions, I/O error).
    case unreadable(path: String, reason: String)
    /// The file has zero bytes.
    case emptyFile(name: String)
    /// The file is larger than `ImageLimits.maxFileBytes`.
    case fileTooLarge(name: String, bytes: Int, limit: Int)
    /// The bytes are not a JPEG or PNG (`detail` says what they look like).
    case unrecognizedFormat(name: String, detail: String)
    /// A valid image of a kind this decoder does not handle (e.g. 12-bit JPEG, GIF).
    case unsupported(name: String, format: String, detail: String)
    /// The header declares a zero width or height.
    case zeroSize(name: String, width: Int, height: Int)
    /// The header declares more pixels than `ImageLimits.maxPixels`.
    case tooManyPixels(name: String, width: Int, height: Int, limit: Int)
    /// The data ends before the image is complete.
    case truncated(name: String, format: String, detail: String)
    /// The decoding library rejected the data.
    case corrupt(name: String, format: String, detail: String)
    /// Memory for the pixels could not be obtained.
    case outOfMemory(name: String, bytes: Int)

    /// A one-line message: file, problem, remedy.
    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "\(path): no such file. Check the path (relative paths are resolved from the current directory)."
        case .notAFile(let path):
            return "\(path): is a directory or special file, not an image. Pass the path of a JPEG or PNG file."
        case .unreadable(let path, let reason):
            return "\(path): cannot be read (\(reason)). Check the file's permissions and that the disk is readable."
        case .emptyFile(let name):
            return "\(name): the file is empty (0 bytes). Re-export or re-download the image."
        case .fileTooLarge(let name, let bytes, let limit):
            return "\(name): the file is \(bytes) bytes, over the limit of \(limit) bytes. Downscale the image or raise ImageLimits.maxFileBytes."
        case .unrecognizedFormat(let name, let detail):
            return "\(name): not a JPEG or PNG image (\(detail)). Convert it to JPEG or PNG."
        case .unsupported(let name, let format, let detail):
            return "\(name): unsupported \(format) image (\(detail)). Convert it to an 8-bit RGB JPEG or PNG."
        case .zeroSize(let name, let width, let height):
            return "\(name): the image header declares a size of \(width)x\(height) pixels. The file is broken; re-export it."
        case .tooManyPixels(let name, let width, let height, let limit):
            return "\(name): the image declares \(width)x\(height) pixels, over the limit of \(limit) pixels (possible decompression bomb). Downscale it or raise the limit (clipcapctl caption --max-pixels N; ImageLimits.maxPixels in Swift)."
        case .truncated(let name, let format, let detail):
            return "\(name): the \(format) file is truncated (\(detail)). The download or copy was probably cut short; get the complete file."
        case .corrupt(let name, let format, let detail):
            return "\(name): the \(format) data is corrupt (\(detail)). Re-export or re-download the image."
        case .outOfMemory(let name, let bytes):
            return "\(name): could not allocate \(bytes) bytes for the pixels. Free memory or lower ImageLimits.maxPixels."
        }
    }
}
