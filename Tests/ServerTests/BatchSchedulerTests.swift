@testable import CaptionServer
import ClipCap
import Foundation
import XCTest

/// The scheduler on its own: queue bound, deadlines, and batches that mix decoding options.
final class BatchSchedulerTests: XCTestCase {
    private static func request(_ options: DecodingOptions = DecodingOptions()) -> CaptionRequest {
        CaptionRequest.file(ServerFixtures.samples[5], options: options)
    }

    func testAFullQueueRefusesAtOnceAndATimedOutRequestLeavesTheQueue() async throws {
        let model = try ServerFixtures.requireModel()
        // Never started: nothing leaves the queue but by timing out.
        let scheduler = BatchScheduler(model: model, maxBatch: 4, maxDelayMs: 0, maxQueue: 2, metrics: ServerMetrics())
        let waiting = (0..<2).map { _ in Task { try await scheduler.caption(Self.request(), timeout: .milliseconds(300)) } }
        while scheduler.depth < 2 { try await Task.sleep(for: .milliseconds(5)) }
        do {
            _ = try await scheduler.caption(Self.request(), timeout: .seconds(10))
            XCTFail("a third request on a queue of 2 must be refused")
        } catch let error as APIError {
            XCTAssertEqual(error.status.code, 429)
            XCTAssertNotNil(error.retryAfterSeconds)
        }
        for task in waiting {
            do { _ = try await task.value; XCTFail("nothing runs the queue: the request must time out") } catch let error as APIError {
                XCTAssertEqual(error.status.code, 504)
            }
        }
        XCTAssertEqual(scheduler.depth, 0, "timed-out requests must leave the queue")
    }

    func testRequestsWithDifferentOptionsShareABatchAndGetTheirOwnCaptions() async throws {
        let model = try ServerFixtures.requireModel()
        let scheduler = BatchScheduler(model: model, maxBatch: 3, maxDelayMs: 2000, maxQueue: 8, metrics: ServerMetrics())
        var beam = DecodingOptions(strategy: .beam(width: 3), numCandidates: 2)
        beam.maxTokens = 20
        let sample = DecodingOptions(strategy: .sample, numCandidates: 2, topK: 10, temperature: 0.7, seed: 3)
        let options = [DecodingOptions(), beam, sample]
        let tasks = options.map { o in Task { try await scheduler.caption(Self.request(o), timeout: .seconds(120)) } }
        while scheduler.depth < 3 { try await Task.sleep(for: .milliseconds(5)) }
        scheduler.start()
        defer { scheduler.stop() }
        for (task, o) in zip(tasks, options) {
            let served = try await task.value
            XCTAssertEqual(served.batchSize, 3, "three queued requests with --max-batch 3 form one batch")
            let alone = try model.caption(imageAt: ServerFixtures.samples[5], options: o)
            // Same captions and ids; batched products may round scores differently in the last digits.
            XCTAssertEqual(served.result.captions.map(\.text), alone.captions.map(\.text))
            XCTAssertEqual(served.result.captions.map(\.tokenIDs), alone.captions.map(\.tokenIDs))
            for (a, b) in zip(served.result.captions, alone.captions) { XCTAssertEqual(a.score, b.score, accuracy: 1e-4) }
        }
    }

    func testALoneRequestDoesNotWaitForABatchToFill() async throws {
        let model = try ServerFixtures.requireModel()
        let scheduler = BatchScheduler(model: model, maxBatch: 8, maxDelayMs: 0, maxQueue: 8, metrics: ServerMetrics())
        scheduler.start()
        defer { scheduler.stop() }
        let served = try await scheduler.caption(Self.request(), timeout: .seconds(120))
        XCTAssertEqual(served.batchSize, 1)
    }
}
