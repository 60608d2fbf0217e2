import Foundation
import XCTest

/// `POST /v1/captions` answers what `clipcapctl caption` prints, for raw and multipart bodies
/// and every decoding strategy; the probes and `/metrics` answer.
final class CaptionEndpointTests: XCTestCase {
    /// One server for the class, started on first use (it ends with the test process).
    static let server: TestServer? = try? TestServer()

    private func port() throws -> Int {
        guard let server = Self.server else { throw XCTSkip("the test server did not start") }
        return server.port
    }

    func testProbesAnswer() throws {
        let port = try port()
        let health = try LoopbackHTTP.request(port: port, path: "/healthz")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.json?["status"] as? String, "ok")
        let ready = try LoopbackHTTP.request(port: port, path: "/readyz")
        XCTAssertEqual(ready.status, 200)
        XCTAssertEqual(ready.json?["status"] as? String, "ready")
        XCTAssertNotNil(ready.headers["x-request-id"])
    }

    func testMetricsAreExposedInPrometheusText() throws {
        let port = try port()
        _ = try LoopbackHTTP.caption(port: port, image: ServerFixtures.bytes(ServerFixtures.samples[0]))
        let metrics = try LoopbackHTTP.request(port: port, path: "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.headers["content-type"]?.hasPrefix("text/plain") ?? false)
        let text = metrics.text
        for name in ["clipcap_http_requests_total{", "clipcap_request_duration_seconds_bucket", "clipcap_queue_wait_seconds_bucket",
                     "clipcap_batch_size_bucket", "clipcap_images_captioned_total", "clipcap_images_per_second",
                     "clipcap_queue_depth", "clipcap_process_resident_memory_bytes"] {
            XCTAssertTrue(text.contains(name), "/metrics lacks \(name):\n\(text)")
        }
        XCTAssertTrue(text.contains("status=\"200\""), text)
        let rss = text.split(separator: "\n").first { $0.hasPrefix("clipcap_process_resident_memory_bytes ") }
        XCTAssertGreaterThan(Double(rss?.split(separator: " ").last ?? "0") ?? 0, 1e6, "RSS gauge should hold the process's resident bytes")
    }

    func testUnknownRouteIsAJSONNotFound() throws {
        let reply = try LoopbackHTTP.request(port: try port(), path: "/v2/nothing")
        XCTAssertEqual(reply.status, 404)
        XCTAssertEqual(reply.errorCode, "not_found")
    }

    func testGreedyCaptionsAreTheCLIs() throws {
        let port = try port()
        let images = Array(ServerFixtures.samples.prefix(4))
        let expected = try CLIBinary.captions(images, options: [])
        XCTAssertEqual(expected.count, images.count)
        for (image, cli) in zip(images, expected) {
            let reply = try LoopbackHTTP.caption(port: port, image: ServerFixtures.bytes(image),
                                                 contentType: image.hasSuffix(".png") ? "image/png" : "image/jpeg")
            XCTAssertEqual(reply.status, 200, reply.text)
            assertSameCaptions(reply, cli, image)
            let model = reply.json?["model"] as? [String: Any]
            XCTAssertEqual(model?["file"] as? String, "demo.ccm")
            XCTAssertEqual(model?["sha256"] as? String, try sha256sum(ServerFixtures.modelPath))
        }
    }

    func testMultipartImageFieldIsCaptioned() throws {
        let image = ServerFixtures.samples[6]
        let boundary = "clipcap-test-\(UInt32.random(in: 0...UInt32.max))"
        let body = LoopbackHTTP.multipart([(name: "note", filename: nil, type: "text/plain", bytes: Array("ignored".utf8)),
                                           (name: "image", filename: "photo.png", type: "image/png", bytes: ServerFixtures.bytes(image))],
                                          boundary: boundary)
        let reply = try LoopbackHTTP.caption(port: try port(), image: body, contentType: "multipart/form-data; boundary=\(boundary)")
        XCTAssertEqual(reply.status, 200, reply.text)
        assertSameCaptions(reply, try CLIBinary.captions([image], options: [])[0], image)
    }

    func testBeamAndSamplingOptionsGiveTheCLIsCaptions() throws {
        let port = try port()
        let image = ServerFixtures.samples[1]
        let cases: [(query: String, cli: [String])] = [
            ("decode=beam&beams=3&num=2", ["--decode", "beam", "--beams", "3", "--num", "2"]),
            ("decode=sample&num=3&seed=7&top_k=20&top_p=0.9&temperature=0.8&max_tokens=12",
             ["--decode", "sample", "--num", "3", "--seed", "7", "--top-k", "20", "--top-p", "0.9", "--temperature", "0.8", "--max-tokens", "12"]),
        ]
        for c in cases {
            let reply = try LoopbackHTTP.caption(port: port, image: ServerFixtures.bytes(image), query: c.query)
            XCTAssertEqual(reply.status, 200, reply.text)
            assertSameCaptions(reply, try CLIBinary.captions([image], options: c.cli)[0], c.query)
        }
    }

    private func sha256sum(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return String(text.prefix(64))
    }
}

/// The server's captions and token ids are the CLI's, byte for byte.
func assertSameCaptions(_ reply: HTTPReply, _ cli: [String: Any], _ context: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(reply.json?["captions"] as? [String], cli["captions"] as? [String], context, file: file, line: line)
    XCTAssertEqual(reply.json?["token_ids"] as? [[Int]], cli["token_ids"] as? [[Int]], context, file: file, line: line)
    XCTAssertNotNil(reply.json?["captions"] as? [String], "no captions in \(reply.text)", file: file, line: line)
}
