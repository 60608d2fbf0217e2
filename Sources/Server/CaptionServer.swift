import ClipCap
import Foundation
import Hummingbird
import Logging
import ModelConverter
import NIOCore
import ServiceLifecycle

/// The captioning service (`clipcapctl serve`, docs/SERVE.md): one loaded model shared by
/// every connection, a scheduler batching queued images into the engine's batch call, and the
/// HTTP API of docs/openapi.yaml on Hummingbird 2. The engine knows nothing of HTTP.
public final class CaptionServer: Sendable {
    private let model: CaptionModel
    private let configuration: CaptionServerConfiguration
    private let logger: Logger
    private let modelInfo: CaptionResponse.Model
    private let metrics = ServerMetrics()
    private let readiness = Readiness()
    private let scheduler: BatchScheduler
    private let group = GroupHolder()

    /// Prepares a server for `model`; reads the model file once for its SHA-256.
    /// - Throws: when the model file cannot be read.
    public init(model: CaptionModel, configuration: CaptionServerConfiguration, logger: Logger) throws {
        self.model = model
        self.configuration = configuration
        self.logger = logger
        modelInfo = .init(file: URL(fileURLWithPath: model.path).lastPathComponent,
                          sha256: try FileDigest.sha256Hex(path: model.path), backend: model.backend.name)
        scheduler = BatchScheduler(model: model, maxBatch: configuration.maxBatch, maxDelayMs: configuration.maxDelayMs,
                                   maxQueue: configuration.maxQueue, metrics: metrics)
    }

    /// Serves until a drain signal (SIGTERM/SIGINT with `handleSignals`) or `shutdown()`:
    /// then stops accepting connections, lets in-flight requests finish within
    /// `drainTimeoutSeconds`, and returns. `onListening` gets the bound port.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = Router(context: BasicRequestContext.self)
        router.middlewares.add(AccessLogMiddleware(metrics: metrics, logger: logger))
        if let token = configuration.bearerToken {
            router.middlewares.add(BearerAuthMiddleware(token: Array(token.utf8)))
        }
        CaptionRoutes(model: model, modelInfo: modelInfo, configuration: configuration, scheduler: scheduler,
                      metrics: metrics, readiness: readiness).add(to: router)

        var hbLogger = logger
        hbLogger.logLevel = max(logger.logLevel, .notice)  // Hummingbird's own per-request lines would double ours
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            services: [SchedulerService(scheduler: scheduler)],
            onServerRunning: { [logger] channel in
                let port = channel.localAddress?.port ?? 0
                logger.notice("listening", metadata: ["host": .string(self.configuration.host), "port": .stringConvertible(port)])
                await onListening(port)
            },
            logger: hbLogger)
        var groupConfig = ServiceGroupConfiguration(services: [app, DrainFlagService(readiness: readiness, logger: logger)],
                                                    gracefulShutdownSignals: configuration.handleSignals ? [.sigterm, .sigint] : [],
                                                    logger: hbLogger)
        groupConfig.maximumGracefulShutdownDuration = .seconds(configuration.drainTimeoutSeconds)
        let serviceGroup = ServiceGroup(configuration: groupConfig)
        await group.set(serviceGroup)
        try await serviceGroup.run()
        logger.notice("stopped")
    }

    /// Starts the drain, as SIGTERM does.
    public func shutdown() async {
        readiness.startDraining()
        await group.get()?.triggerGracefulShutdown()
    }
}

/// Runs the scheduler's worker for as long as the HTTP server runs: the application shuts its
/// services down after the server, so queued and in-flight images are still captioned while
/// connections drain.
private struct SchedulerService: Service {
    let scheduler: BatchScheduler
    func run() async throws {
        scheduler.start()
        try? await gracefulShutdown()
        scheduler.stop()
        await scheduler.waitUntilStopped()
    }
}

/// Marks the server as draining as soon as the drain starts (`/readyz` turns 503 before the
/// listener closes): the service group shuts this one down first, being listed last.
private struct DrainFlagService: Service {
    let readiness: Readiness
    let logger: Logger
    func run() async throws {
        try? await gracefulShutdown()
        readiness.startDraining()
        logger.notice("draining: no new connections; finishing in-flight requests")
    }
}

/// The running service group, for `shutdown()`.
private actor GroupHolder {
    private var group: ServiceGroup?
    func set(_ group: ServiceGroup) { self.group = group }
    func get() -> ServiceGroup? { group }
}
