/// Safety limits applied while reading untrusted checkpoint files. Every structure a file
/// declares (entries, strings, containers, dimensions) is checked against these before
/// memory is allocated for it, so a hostile or corrupt file fails with
/// `CheckpointError.limitExceeded` instead of exhausting memory or time.
/// The defaults admit every real checkpoint we know of, including multi-GB models.
public struct ReaderLimits: Sendable, Equatable {
    /// Entries in a zip central directory.
    public var maxZipEntries: Int = 500_000
    /// Size of one pickle (`data.pkl`).
    public var maxPickleBytes: Int = 512 << 20
    /// Opcodes executed by the unpickler.
    public var maxPickleOps: Int = 50_000_000
    /// Entries in the pickle memo.
    public var maxMemoEntries: Int = 2_000_000
    /// Values on the unpickler stack (all marks together).
    public var maxStackDepth: Int = 2_000_000
    /// Open MARKs at the same time.
    public var maxMarkDepth: Int = 10_000
    /// Nesting of tuples inside tuples and of containers walked for tensors.
    public var maxNestingDepth: Int = 1_000
    /// Length of one pickled string or bytes object.
    public var maxStringBytes: Int = 64 << 20
    /// Dimensions of one tensor.
    public var maxDimensions: Int = 64
    /// Bytes `bytes()` may produce for a view that repeats storage elements (stride 0 from
    /// `expand`): such a view is not bounded by the file size, so it gets its own cap.
    public var maxRepeatingViewBytes: Int = 256 << 20
    /// Tensors in one checkpoint.
    public var maxTensors: Int = 1_000_000
    /// Containers and objects visited while collecting tensors (bounds shared-reference blowups).
    public var maxWalkSteps: Int = 10_000_000
    /// safetensors JSON header (the format's own cap is 100 MB).
    public var maxSafetensorsHeaderBytes: Int = 100_000_000
    /// Other JSON files (config.json, shard indexes).
    public var maxJSONBytes: Int = 64 << 20
    /// Nesting of JSON arrays and objects.
    public var maxJSONDepth: Int = 128

    /// The defaults.
    public init() {}
}
