import Foundation

/// Shell-style glob matching (`*`, `?`, `[...]`) for `--keep` patterns, via POSIX `fnmatch`.
public struct GlobPattern: Sendable {
    public let pattern: String

    public init(_ pattern: String) { self.pattern = pattern }

    /// Whether `name` matches the whole pattern (`*` also crosses dots).
    public func matches(_ name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }
}
