import Engine

/// One input of a bulk run, as the enumerators produce it: an image to caption, or the reason
/// this input cannot be captioned (a bad tar member, a manifest row without a path...), which
/// becomes that input's error line instead of stopping the run.
public struct BulkItem: Sendable {
    /// The name the output lines carry as `key`: a manifest's key column, a WebDataset sample
    /// key, or else the path as given.
    public var key: String
    /// Where the image comes from, as the output lines carry it as `file`: a path, `-`, or
    /// `ARCHIVE.tar/MEMBER` for a tar member.
    public var file: String
    public var payload: Payload

    public enum Payload: Sendable {
        /// Caption this image.
        case image(CaptionRequest.Source)
        /// This input cannot be captioned, for this reason.
        case failure(String)
    }

    public init(key: String, file: String, payload: Payload) {
        self.key = key
        self.file = file
        self.payload = payload
    }
}

/// A problem with the inputs themselves (an unreadable list, a manifest without its path
/// column): the whole run cannot start. Per-image problems are `BulkItem.Payload.failure`.
public struct BulkInputError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
