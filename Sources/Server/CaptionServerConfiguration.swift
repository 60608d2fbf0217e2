/// How `CaptionServer` listens, batches and limits (`clipcapctl serve` options; docs/SERVE.md).
public struct CaptionServerConfiguration: Sendable {
    /// Address to bind (`--host`); the default answers only this machine.
    public var host = "127.0.0.1"
    /// TCP port (`--port`); 0 picks a free port (tests).
    public var port = 8080
    /// Most images in one engine call (`--max-batch`).
    public var maxBatch = 8
    /// Longest a waiting image waits for others to join its batch, in ms (`--max-delay-ms`).
    public var maxDelayMs = 5
    /// Most images waiting for the engine; beyond it requests get 429 (`--max-queue`).
    public var maxQueue = 64
    /// Longest a caption request may take, in seconds, before it is answered 504 (`--timeout`).
    public var timeoutSeconds = 30.0
    /// Largest request body in bytes; larger bodies get 413 as soon as they pass it (`--max-body-bytes`).
    public var maxBodyBytes = 20 << 20
    /// Largest image in pixels (width x height); larger images get 422 before any pixel
    /// memory is allocated (`--max-pixels`).
    public var maxPixels = 24_000_000
    /// The bearer token every caption request must carry (`--token-file`); `nil`: no auth.
    public var bearerToken: String?
    /// After SIGTERM/SIGINT, how long in-flight requests may take to finish, in seconds (`--drain-timeout`).
    public var drainTimeoutSeconds = 30.0
    /// Answer SIGTERM and SIGINT by draining (off for servers embedded in tests).
    public var handleSignals = true

    public init() {}
}
