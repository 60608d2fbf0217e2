import Foundation
import XCTest

/// Every error code of docs/openapi.yaml, with its JSON body and headers.
final class ErrorResponseTests: XCTestCase {
    /// One server for the class, started on first use (it ends with the test process).
    static let server: TestServer? = try? TestServer { $0.maxBodyBytes = 1 << 20; $0.maxPixels = 200_000 }

    private func port() throws -> Int {
        guard let server = Self.server else { throw XCTSkip("the test server did not start") }
        return server.port
    }
    private var jpeg: [UInt8] { ServerFixtures.bytes(ServerFixtures.samples[0]) }

    private func assertError(_ reply: HTTPReply, _ status: Int, _ code: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(reply.status, status, reply.text, file: file, line: line)
        XCTAssertEqual(reply.errorCode, code, reply.text, file: file, line: line)
        XCTAssertEqual(reply.headers["content-type"], "application/json", file: file, line: line)
        let message = (reply.json?["error"] as? [String: Any])?["message"] as? String ?? ""
        XCTAssertFalse(message.isEmpty, "an error needs a message: \(reply.text)", file: file, line: line)
    }

    func testBadOptionsAre400() throws {
        let port = try port()
        for query in ["decode=fancy", "num=0", "beams=x", "decode=beam&beams=2&num=3", "temperature=0", "top_p=1.5",
                      "top_k=-1", "seed=-4", "max_tokens=0", "colour=red", "num=2&num=3", "decode=beam&beams=64", "max_tokens=5000"] {
            assertError(try LoopbackHTTP.caption(port: port, image: jpeg, query: query), 400, "bad_option")
        }
    }

    func testDeclaredOversizedBodyIs413WithoutReadingIt() throws {
        let connection = try LoopbackConnection(port: try port())
        connection.sendHead(method: "POST", path: "/v1/captions", headers: [("Content-Type", "image/jpeg"), ("Content-Length", String(1 << 30))])
        let reply = try connection.readReply()
        assertError(reply, 413, "body_too_large")
    }

    func testNotAnImageIs415() throws {
        let port = try port()
        assertError(try LoopbackHTTP.caption(port: port, image: Array("hello".utf8), contentType: "text/plain"), 415, "unsupported_media_type")
        assertError(try LoopbackHTTP.caption(port: port, image: ServerFixtures.bytes(ServerFixtures.image("bad/image.gif")), contentType: "image/png"),
                    415, "unsupported_media_type")
        assertError(try LoopbackHTTP.caption(port: port, image: ServerFixtures.bytes(ServerFixtures.image("bad/text.jpg"))), 415, "unsupported_media_type")
        let body = LoopbackHTTP.multipart([(name: "picture", filename: "a.jpg", type: "image/jpeg", bytes: jpeg)], boundary: "b0undary")
        assertError(try LoopbackHTTP.caption(port: port, image: body, contentType: "multipart/form-data; boundary=b0undary"), 415, "unsupported_media_type")
        assertError(try LoopbackHTTP.request(port: port, method: "POST", path: "/v1/captions", body: jpeg), 415, "unsupported_media_type")
    }

    func testUndecodableOrHugeImageIs422() throws {
        let port = try port()
        for bad in ["bad/truncated_header.jpg", "bad/corrupt_idat.png", "bad/zero_width.png", "bad/truncated_header.png"] {
            let type = bad.hasSuffix(".png") ? "image/png" : "image/jpeg"
            assertError(try LoopbackHTTP.caption(port: port, image: ServerFixtures.bytes(ServerFixtures.image(bad)), contentType: type), 422, "undecodable_image")
        }
        // A decompression bomb's header, and a real 642x533 photo over this server's --max-pixels of 200,000.
        assertError(try LoopbackHTTP.caption(port: port, image: ServerFixtures.bytes(ServerFixtures.image("bad/bomb_65000x65000.jpg"))), 422, "too_many_pixels")
        assertError(try LoopbackHTTP.caption(port: port, image: jpeg), 422, "too_many_pixels")
    }

    func testWrongMethodIsAJSONError() throws {
        let reply = try LoopbackHTTP.request(port: try port(), path: "/v1/captions")
        XCTAssertTrue([404, 405].contains(reply.status), reply.text)
        XCTAssertNotNil(reply.errorCode, reply.text)
    }

    func testPastTheTimeoutIs504() throws {
        let server = try TestServer { $0.timeoutSeconds = 1e-9 }
        defer { server.stop() }
        let reply = try LoopbackHTTP.caption(port: server.port, image: jpeg)
        assertError(reply, 504, "timeout")
    }

    func testFullQueueIs429WithRetryAfter() throws {
        let server = try TestServer { $0.maxQueue = 1; $0.maxBatch = 1; $0.maxDelayMs = 0 }
        defer { server.stop() }
        let image = jpeg
        let port = server.port
        let replies = concurrently(12) { _ in try? LoopbackHTTP.caption(port: port, image: image, query: "decode=beam&beams=4") }
        let statuses = replies.map { $0?.status ?? -1 }
        XCTAssertTrue(statuses.allSatisfy { $0 == 200 || $0 == 429 }, "\(statuses)")
        XCTAssertTrue(statuses.contains(200), "\(statuses)")
        let rejected = replies.compactMap { $0 }.filter { $0.status == 429 }
        XCTAssertFalse(rejected.isEmpty, "12 requests at once on a queue of 1 should overflow: \(statuses)")
        for reply in rejected {
            assertError(reply, 429, "queue_full")
            XCTAssertGreaterThanOrEqual(Int(reply.headers["retry-after"] ?? "") ?? 0, 1, "429 needs Retry-After")
        }
    }

    func testBearerTokenIsRequiredWhenConfigured() throws {
        let server = try TestServer { $0.bearerToken = "s3cret-token" }
        defer { server.stop() }
        assertError(try LoopbackHTTP.caption(port: server.port, image: jpeg), 401, "unauthorized")
        assertError(try LoopbackHTTP.caption(port: server.port, image: jpeg, headers: [("Authorization", "Bearer s3cret-tokeN")]), 401, "unauthorized")
        assertError(try LoopbackHTTP.caption(port: server.port, image: jpeg, headers: [("Authorization", "Bearer s3cret")]), 401, "unauthorized")
        let good = try LoopbackHTTP.caption(port: server.port, image: jpeg, headers: [("Authorization", "Bearer s3cret-token")])
        XCTAssertEqual(good.status, 200, good.text)
        // Probes stay open for orchestrators.
        XCTAssertEqual(try LoopbackHTTP.request(port: server.port, path: "/healthz").status, 200)
        XCTAssertEqual(try LoopbackHTTP.request(port: server.port, path: "/readyz").status, 200)
    }

    func testDrainingServerIsNotReady() throws {
        let server = try TestServer()
        Task { await server.server.shutdown() }
        // Either the listener is already closed or it answers 503: never 200 once draining.
        Thread.sleep(forTimeInterval: 0.05)
        if let reply = try? LoopbackHTTP.request(port: server.port, path: "/readyz") {
            XCTAssertEqual(reply.status, 503, reply.text)
            XCTAssertEqual(reply.errorCode, "unavailable")
            XCTAssertNotNil(reply.headers["retry-after"])
        }
        server.stop()
    }
}
