import ArgumentParser
import CaptionServer
import ClipCap
import Foundation
import Logging

/// `clipcapctl serve`: the HTTP captioning service (docs/SERVE.md, docs/openapi.yaml).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve captions over HTTP: POST /v1/captions, GET /healthz, /readyz, /metrics.",
        discussion: "Concurrent requests are batched into the engine's batch call. SIGTERM/SIGINT drain in-flight requests, then exit 0. See docs/SERVE.md.")

    @Option(name: .long, help: "The model file (.ccm).")
    var model: String

    @Option(name: .long, help: "Backend: auto (int8 for quantized files where the CPU runs it, blas otherwise), naive, blas, int8, or any registered plugin.")
    var backend: String = "auto"

    @Option(name: .long, help: "Threads for our kernels and OpenBLAS (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "Address to listen on (0.0.0.0 for every interface).")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "TCP port (0: any free port; the chosen one is logged).")
    var port: Int = 8080

    @Option(name: .customLong("max-batch"), help: "Most images in one engine call.")
    var maxBatch: Int = 8

    @Option(name: .customLong("max-delay-ms"), help: "Longest a waiting image waits for others to join its batch (ms).")
    var maxDelayMs: Int = 5

    @Option(name: .customLong("max-queue"), help: "Most images waiting; beyond, requests get 429 with Retry-After.")
    var maxQueue: Int = 64

    @Option(name: .long, help: "Longest a caption request may take (seconds) before 504.")
    var timeout: Double = 30

    @Option(name: .customLong("max-body-bytes"), help: "Largest request body (bytes); larger get 413.")
    var maxBodyBytes: Int = 20 << 20

    @Option(name: .customLong("max-pixels"), help: "Largest image (width x height); larger get 422.")
    var maxPixels: Int = 24_000_000

    @Option(name: .customLong("max-candidates"), help: "Most beams or samples a request may ask for.")
    var maxCandidates: Int = 8

    @Option(name: .customLong("max-tokens-limit"), help: "Most tokens a request may ask for (max_tokens).")
    var maxTokensLimit: Int = 100

    @Option(name: .customLong("token-file"), help: "File holding the bearer token caption requests must send (Authorization: Bearer ...).")
    var tokenFile: String?

    @Option(name: .customLong("drain-timeout"), help: "After SIGTERM/SIGINT, seconds in-flight requests may take to finish.")
    var drainTimeout: Double = 30

    @Option(name: .customLong("log-format"), help: "Access and server logs on stderr: text or json.")
    var logFormat: String = "text"

    @OptionGroup var memory: WeightResidencyOption

    @OptionGroup var checksums: ChecksumOption

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
        guard maxBatch >= 1, maxQueue >= 1, maxCandidates >= 1, maxTokensLimit >= 1 else {
            throw ValidationError("--max-batch, --max-queue, --max-candidates and --max-tokens-limit must be at least 1")
        }
        guard maxDelayMs >= 0 else { throw ValidationError("--max-delay-ms must be 0 or more") }
        guard timeout > 0, drainTimeout >= 0 else { throw ValidationError("--timeout must be positive and --drain-timeout 0 or more") }
        guard maxBodyBytes >= 1, maxPixels >= 1 else { throw ValidationError("--max-body-bytes and --max-pixels must be at least 1") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format must be text or json") }
    }

    func run() throws {
        // The root command is synchronous: serve on the concurrency pool and wait here.
        let outcome = BlockingResult()
        let command = self
        Task { outcome.set(await Result(catching: { try await command.serve() })) }
        try outcome.wait().get()
    }

    private func serve() async throws {
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label -> any LogHandler in
            json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
        }
        var logger = Logger(label: "clipcap.serve")
        logger.logLevel = .info

        var configuration = CaptionServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.maxBatch = maxBatch
        configuration.maxDelayMs = maxDelayMs
        configuration.maxQueue = maxQueue
        configuration.timeoutSeconds = timeout
        configuration.maxBodyBytes = maxBodyBytes
        configuration.maxPixels = maxPixels
        configuration.drainTimeoutSeconds = drainTimeout
        if let tokenFile { configuration.bearerToken = try readToken(tokenFile) }

        var options = LoadOptions(backend: backend, threads: threads, verifyChecksums: checksums.verify,
                                  maxBatch: maxCandidates, maxTokens: maxTokensLimit)
        options.residency = memory.residency
        let loaded = try ModelLoading.load(model, options: options)
        let server = try CaptionServer(model: loaded, configuration: configuration, logger: logger)
        try await server.run()
    }

    private func readToken(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw CLIError("\(path): cannot read the token file; check the path and its permissions")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw CLIError("\(path): the token file is empty; put the bearer token in it") }
        guard !token.contains(where: { $0.isWhitespace }) else { throw CLIError("\(path): the token contains whitespace; use one word") }
        return token
    }
}

/// The result of async work awaited from synchronous code.
private final class BlockingResult: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<Void, any Error> = .success(())
    func set(_ value: Result<Void, any Error>) { result = value; done.signal() }
    func wait() -> Result<Void, any Error> { done.wait(); return result }
}

extension Result where Failure == any Error {
    /// Catches the error of async `body`.
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
