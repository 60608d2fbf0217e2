import ClipCap
import Foundation
import XCTest

/// Many clients at once, clients that misbehave, and bodies that never end.
final class LoadBehaviourTests: XCTestCase {
    func testThirtyTwoConcurrentClientsGetExactlyTheCLIsCaptions() throws {
        // No --timeout in the way: debug builds on a shared CI machine are slow.
        let server = try TestServer { $0.maxBatch = 8; $0.maxQueue = 64; $0.timeoutSeconds = 3600 }
        defer { server.stop() }
        let images = ServerFixtures.samples
        let expected = try CLIBinary.captions(images, options: [])
        let bodies = images.map(ServerFixtures.bytes)
        let port = server.port
        let replies = concurrently(32) { i in
            try? LoopbackHTTP.caption(port: port, image: bodies[i % bodies.count],
                                      contentType: images[i % images.count].hasSuffix(".png") ? "image/png" : "image/jpeg")
        }
        var batchSizes: [Int] = []
        for (i, reply) in replies.enumerated() {
            guard let reply else { XCTFail("client \(i) got no answer"); continue }
            XCTAssertEqual(reply.status, 200, reply.text)
            assertSameCaptions(reply, expected[i % images.count], "client \(i), \(images[i % images.count])")
            batchSizes.append(reply.json?["batch_size"] as? Int ?? 0)
        }
        // While one batch runs the others queue up: the scheduler must have batched some.
        XCTAssertGreaterThan(batchSizes.max() ?? 0, 1, "no request shared a batch: \(batchSizes)")
        XCTAssertLessThanOrEqual(batchSizes.max() ?? 0, 8, "a batch exceeded --max-batch: \(batchSizes)")
    }

    func testSlowAndVanishingClientsDoNotStallOthers() throws {
        let server = try TestServer { $0.timeoutSeconds = 3600 }
        defer { server.stop() }
        let image = ServerFixtures.bytes(ServerFixtures.samples[0])
        // A client that sends half its body and then goes quiet, and one that vanishes mid-body.
        let slow = try LoopbackConnection(port: server.port)
        slow.sendHead(method: "POST", path: "/v1/captions", headers: [("Content-Type", "image/jpeg"), ("Content-Length", String(image.count))])
        slow.send(Array(image.prefix(image.count / 2)))
        for _ in 0..<3 {
            let gone = try LoopbackConnection(port: server.port)
            gone.sendHead(method: "POST", path: "/v1/captions", headers: [("Content-Type", "image/jpeg"), ("Content-Length", String(image.count))])
            gone.send(Array(image.prefix(1000)))
            // deinit closes it with the body unfinished
        }
        let started = Date()
        let replies = concurrently(4) { _ in try? LoopbackHTTP.caption(port: server.port, image: image) }
        XCTAssertEqual(replies.map { $0?.status ?? -1 }, [200, 200, 200, 200])
        XCTAssertLessThan(Date().timeIntervalSince(started), 60, "others waited on the stalled client")
        // The slow client finishes at last and is served too.
        slow.send(Array(image.suffix(from: image.count / 2)))
        XCTAssertEqual(try slow.readReply().status, 200)
        XCTAssertEqual(try LoopbackHTTP.request(port: server.port, path: "/healthz").status, 200)
    }

    func testBodyCapHoldsWhileAClientStreamsAGigabyte() throws {
        let limit = 4 << 20
        let server = try TestServer { $0.maxBodyBytes = limit }
        defer { server.stop() }
        let before = ProcessMemory.current().residentMiB
        let connection = try LoopbackConnection(port: server.port)
        // Chunked, no Content-Length: the cap must hold on the bytes as they stream in.
        connection.sendHead(method: "POST", path: "/v1/captions", headers: [("Content-Type", "image/jpeg"), ("Transfer-Encoding", "chunked")])
        let chunk = [UInt8](repeating: 0xAB, count: 1 << 20)
        let chunkFrame = Array(String(chunk.count, radix: 16).utf8) + [13, 10] + chunk + [13, 10]
        // A hostile client: it ignores the early 413 and streams on until the gigabyte is sent
        // or the server closes the connection.
        var sent = 0
        var answeredAt: Int?
        while sent < 1 << 30 {
            if answeredAt == nil, connection.hasReplyWaiting() { answeredAt = sent }
            guard connection.send(chunkFrame) else { break }
            sent += chunk.count
        }
        if sent >= 1 << 30 { _ = connection.send("0\r\n\r\n") }
        let reply = try connection.readReply()
        XCTAssertEqual(reply.status, 413, reply.text)
        XCTAssertEqual(reply.errorCode, "body_too_large")
        XCTAssertLessThanOrEqual(answeredAt ?? 0, 64 << 20, "the 413 should come as soon as the cap is passed, not after the body")
        let growth = ProcessMemory.current().residentMiB - before
        XCTAssertLessThan(growth, 256, "resident memory grew \(growth) MiB while a client streamed \(sent >> 20) MiB past a \(limit >> 20) MiB cap")
        // The server is fine afterwards.
        XCTAssertEqual(try LoopbackHTTP.caption(port: server.port, image: ServerFixtures.bytes(ServerFixtures.samples[5])).status, 200)
    }
}
