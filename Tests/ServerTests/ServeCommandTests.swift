import Foundation
import XCTest

/// `clipcapctl serve` as a process: it logs where it listens, drains on SIGTERM (in-flight
/// requests are answered, new connections refused) and exits 0.
final class ServeCommandTests: XCTestCase {
    /// A running `clipcapctl serve` and its stderr lines so far.
    final class ServeProcess: @unchecked Sendable {
        let process = Process()
        private let lock = NSLock()
        private var errorText = ""
        private(set) var port = 0

        init(_ extra: [String] = []) throws {
            process.executableURL = URL(fileURLWithPath: try CLIBinary.require())
            process.arguments = ["serve", "--model", ServerFixtures.modelPath, "--port", "0", "--log-format", "json", "--threads", "2"] + extra
            let err = Pipe()
            process.standardError = err
            process.standardOutput = FileHandle.nullDevice
            err.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                guard let self, !data.isEmpty else { return }
                self.lock.lock(); self.errorText += String(decoding: data, as: UTF8.self); self.lock.unlock()
            }
            try process.run()
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline, process.isRunning {
                if let port = listeningPort() { self.port = port; return }
                Thread.sleep(forTimeInterval: 0.05)
            }
            process.terminate()
            throw HTTPClientError("clipcapctl serve did not log a listening port:\n\(stderr)")
        }

        var stderr: String { lock.lock(); defer { lock.unlock() }; return errorText }

        /// The JSON log lines so far.
        var logLines: [[String: Any]] {
            stderr.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        }

        private func listeningPort() -> Int? {
            logLines.first { $0["message"] as? String == "listening" }.flatMap { ($0["port"] as? String).flatMap(Int.init) }
        }

        func waitForExit(timeout: Double) -> Int32? {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { process.interrupt(); kill(process.processIdentifier, SIGKILL); return nil }
            return process.terminationStatus
        }
    }

    func testSIGTERMDrainsInFlightRequestsAndExitsZero() throws {
        let serve = try ServeProcess(["--max-batch", "2", "--drain-timeout", "600", "--timeout", "3600"])
        let image = ServerFixtures.bytes(ServerFixtures.samples[1])
        let port = serve.port
        // Six beam-search requests: with batches of 2, some are still queued or running when
        // the signal comes.
        let inFlight = ResultsBox<HTTPReply?>(count: 6)
        let group = DispatchGroup()
        for i in 0..<6 {
            group.enter()
            Thread {
                inFlight.set(i, try? LoopbackHTTP.caption(port: port, image: image, query: "decode=beam&beams=4"))
                group.leave()
            }.start()
        }
        // Wait until the server has read the requests (they show in the queue or the access log).
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let metrics = (try? LoopbackHTTP.request(port: port, path: "/metrics"))?.text ?? ""
            func value(_ name: String) -> Int {
                metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }.map { Int($0) } ?? 0
            }
            // All six read: at most 2 (--max-batch) in the engine, the rest queued or done.
            if value("clipcap_queue_depth") + value("clipcap_images_captioned_total") + 2 >= 6 { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        kill(serve.process.processIdentifier, SIGTERM)
        group.wait()
        let status = serve.waitForExit(timeout: 600)
        XCTAssertEqual(status, 0, "serve should exit 0 after draining:\n\(serve.stderr)")
        XCTAssertEqual(inFlight.values.map { $0?.status ?? -1 }, Array(repeating: 200, count: 6),
                       "every in-flight request must be answered:\n\(serve.stderr)")
        XCTAssertThrowsError(try LoopbackHTTP.request(port: port, path: "/healthz"), "the listener should be closed after the drain")
        let messages = serve.logLines.compactMap { $0["message"] as? String }
        XCTAssertTrue(messages.contains { $0.hasPrefix("draining") }, "\(messages)")
        // One access-log line per request, with id, status, bytes and latency.
        let access = serve.logLines.filter { $0["message"] as? String == "request" && $0["path"] as? String == "/v1/captions" }
        XCTAssertEqual(access.count, 6, serve.stderr)
        for line in access { for key in ["id", "status", "bytes", "latency_ms", "method"] { XCTAssertNotNil(line[key], "\(line)") } }
    }

    func testBadOptionsAndTokenFileAreRefusedBeforeServing() throws {
        let binary = try CLIBinary.require()
        for arguments in [["--max-batch", "0"], ["--log-format", "xml"], ["--token-file", "/nonexistent/token"], ["--port", "70000"]] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["serve", "--model", ServerFixtures.modelPath, "--port", "0"] + arguments
            let err = Pipe()
            process.standardError = err
            try process.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertNotEqual(process.terminationStatus, 0, "\(arguments): \(text)")
            XCTAssertFalse(text.isEmpty, "\(arguments) needs a message")
        }
    }
}
