/// SHA-256 digests of files for other targets (the service reports its model file's digest),
/// over the converter's own `SHA256`.
public enum FileDigest {
    /// Lower-case hex SHA-256 of the file at `path`.
    public static func sha256Hex(path: String) throws -> String {
        try SHA256.hex(fileAt: path)
    }
}
