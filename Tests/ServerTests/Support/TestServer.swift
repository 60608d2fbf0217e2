import CaptionServer
import ClipCap
import Foundation
import Logging
import XCTest

/// Paths of committed files, relative to this file.
enum ServerFixtures {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func path(_ relative: String) -> String { repository.appendingPathComponent(relative).path }

    /// The committed demo model and its sample photos.
    static var modelPath: String { path("models/demo.ccm") }
    static var samples: [String] {
        let folder = path("models/samples")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasSuffix(".jpg") || $0.hasSuffix(".png") }.sorted()
        return names.map { folder + "/" + $0 }
    }
    static func bytes(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }
    static func image(_ relative: String) -> String { path("Tests/Fixtures/images/" + relative) }

    /// One model for every in-process server of the test process (loading is the slow part).
    static let model: CaptionModel? = try? ClipCap.loadModel(path: modelPath, options: LoadOptions(backend: "blas", threads: 2, maxBatch: 8, maxTokens: 100))

    static func requireModel() throws -> CaptionModel {
        guard let model else { throw XCTSkip("cannot load \(modelPath)") }
        return model
    }
}

/// A `CaptionServer` running in this process on a free loopback port.
final class TestServer: @unchecked Sendable {
    let server: CaptionServer
    let port: Int
    private let finished = DispatchSemaphore(value: 0)

    /// Starts a server with the demo model and `configure`d options; waits until it listens.
    init(_ configure: (inout CaptionServerConfiguration) -> Void = { _ in }) throws {
        var configuration = CaptionServerConfiguration()
        configuration.port = 0
        configuration.handleSignals = false
        configure(&configuration)
        var logger = Logger(label: "test.server")
        logger.logLevel = .warning
        server = try CaptionServer(model: try ServerFixtures.requireModel(), configuration: configuration, logger: logger)
        let listening = DispatchSemaphore(value: 0)
        let box = PortBox()
        let server = self.server
        let finished = self.finished
        Task {
            do { try await server.run(onListening: { port in box.port = port; listening.signal() }) } catch {
                box.error = error
                listening.signal()
            }
            finished.signal()
        }
        guard listening.wait(timeout: .now() + 60) == .success, let port = box.port else {
            throw HTTPClientError("the test server did not start: \(String(describing: box.error))")
        }
        self.port = port
    }

    /// Drains and waits for the server to stop.
    func stop() {
        let server = self.server
        Task { await server.shutdown() }
        _ = finished.wait(timeout: .now() + 60)
    }
}

private final class PortBox: @unchecked Sendable {
    var port: Int?
    var error: (any Error)?
}

/// Runs blocks on their own threads at once (not GCD's pool, which caps at the core count),
/// and returns their results in order.
func concurrently<T>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
    let results = ResultsBox<T>(count: count)
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let thread = Thread {
            results.set(i, body(i))
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    group.wait()
    return results.values
}

final class ResultsBox<T>: @unchecked Sendable {
    private var slots: [T?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: T) { lock.lock(); slots[i] = value; lock.unlock() }
    var values: [T] { lock.lock(); defer { lock.unlock() }; return slots.map { $0! } }
}
