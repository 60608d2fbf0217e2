import CCMFormat

/// How weights are quantized to int8 (docs/INT8.md).
public enum QuantizationScheme: Sendable, Equatable, CustomStringConvertible {
    /// One f32 scale per output channel (row of the `[N, K]` weight).
    case perChannel
    /// One f32 scale per `size` consecutive weights of a row (`[N, ceil(K / size)]` scales).
    case block(size: Int)

    /// Parses the command-line names `per_channel`, `block32`, `block64`, ...
    public init?(name: String) {
        if name == "per_channel" || name == "per-channel" { self = .perChannel; return }
        if name.hasPrefix("block"), let size = Int(name.dropFirst(5)), size >= 1, size <= 1 << 20 {
            self = .block(size: size)
            return
        }
        return nil
    }

    /// The command-line name (`per_channel`, `block32`).
    public var description: String {
        switch self {
        case .perChannel: return "per_channel"
        case .block(let size): return "block\(size)"
        }
    }

    /// The value of the `scheme` attribute / `QuantizationInfo.scheme` (`per_channel` or `block`).
    public var attributeName: String {
        switch self {
        case .perChannel: return "per_channel"
        case .block: return "block"
        }
    }

    /// Block length, 0 for per-channel.
    public var blockSize: Int {
        if case .block(let size) = self { return size }
        return 0
    }
}

/// Options of `Quantizer.quantize`.
public struct QuantizeOptions: Sendable {
    /// The weight scheme. Default: per-channel (docs/INT8.md has the measurements behind it).
    public var scheme: QuantizationScheme
    /// Glob patterns (`*`, `?`, `[...]`) on node or tensor names: matching `linear` layers stay float.
    public var keepPatterns: [String]
    /// Also quantize `gather` tables (token embeddings) to int8; by default they stay float.
    public var quantizeEmbeddings: Bool

    public init(scheme: QuantizationScheme = .perChannel, keepPatterns: [String] = [], quantizeEmbeddings: Bool = false) {
        self.scheme = scheme
        self.keepPatterns = keepPatterns
        self.quantizeEmbeddings = quantizeEmbeddings
    }
}
