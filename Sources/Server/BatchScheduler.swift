import ClipCap
import Foundation

/// What the scheduler hands back for one image: the engine's result and how it was served.
struct ScheduledCaption: Sendable {
    var result: CaptionResult
    /// Milliseconds between arrival in the queue and the start of its batch.
    var queueWaitMs: Double
    /// Images in the engine call that captioned this one.
    var batchSize: Int
}

/// Collects queued images into batches for the engine's batch call
/// (`CaptionModel.captions(for:batchSize:)`), on a thread of its own so that the engine's
/// blocking work never runs on the event loops or the Swift concurrency pool.
///
/// Batching rule: as soon as the engine is free, the worker takes the oldest waiting image and
/// waits at most `maxDelay` (from that image's arrival) for the queue to hold `maxBatch`
/// images, then runs whatever is waiting, up to `maxBatch`. While a batch runs, new arrivals
/// queue up and form the next batch, so under load batches fill without any delay and a lone
/// request waits at most `maxDelay`. Requests with different decoding options share a batch:
/// each `CaptionRequest` carries its own options.
final class BatchScheduler: @unchecked Sendable {
    private let model: CaptionModel
    private let maxBatch: Int
    private let maxDelayNanos: UInt64
    private let maxQueue: Int
    private let metrics: ServerMetrics
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var queue: [Ticket] = []
    private var stopping = false
    private var finished = false
    private var worker: Thread?

    init(model: CaptionModel, maxBatch: Int, maxDelayMs: Int, maxQueue: Int, metrics: ServerMetrics) {
        self.model = model
        self.maxBatch = max(1, maxBatch)
        self.maxDelayNanos = UInt64(max(0, maxDelayMs)) * 1_000_000
        self.maxQueue = max(1, maxQueue)
        self.metrics = metrics
    }

    /// Images waiting for a batch (not counting the one running).
    var depth: Int { condition.lock(); defer { condition.unlock() }; return queue.count }

    /// Starts the worker thread (once).
    func start() {
        condition.lock(); defer { condition.unlock() }
        guard worker == nil else { return }
        let thread = Thread { [self] in workLoop() }
        thread.name = "clipcap-batch-scheduler"
        worker = thread
        thread.start()
    }

    /// Lets the worker finish what is queued and exit; new submissions fail with 503.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until the worker has exited after `stop()`.
    func waitUntilStopped() async {
        while !hasStopped { try? await Task.sleep(for: .milliseconds(10)) }
    }

    private var hasStopped: Bool {
        condition.lock(); defer { condition.unlock() }
        return finished || worker == nil
    }

    /// Queues `request` and waits for its caption, at most `timeout` from now.
    /// - Throws: `APIError` 429 when the queue is full, 503 when stopping, 504 past `timeout`;
    ///   the engine's error for this image (e.g. non-finite values) as is.
    func caption(_ request: CaptionRequest, timeout: Duration) async throws -> ScheduledCaption {
        let ticket = Ticket(request: request)
        // The deadline: a timer resolves the ticket unless the caption comes first.
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            guard !Task.isCancelled else { return }
            // Leave the queue before answering, so the queue never counts an answered request.
            if !ticket.isResolved { self?.withdraw(ticket) }
            ticket.resolve(.failure(APIError.timeout(seconds: timeout.seconds)))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                ticket.attach(continuation)
                condition.lock()
                if stopping {
                    condition.unlock()
                    ticket.resolve(.failure(APIError.unavailable("the server is shutting down; retry on another instance")))
                    return
                }
                if queue.count >= maxQueue {
                    let depth = queue.count
                    condition.unlock()
                    metrics.rejectedQueueFull()
                    ticket.resolve(.failure(APIError.queueFull(depth: depth, retryAfter: retryAfterSeconds(depth: depth))))
                    return
                }
                queue.append(ticket)
                metrics.setQueueDepth(queue.count)
                condition.signal()
                condition.unlock()
            }
        } onCancel: {
            // The client went away: its image is not captioned if it has not started.
            if !ticket.isResolved { withdraw(ticket) }
            ticket.resolve(.failure(CancellationError()))
        }
    }

    /// A Retry-After estimate: the time the queue ahead needs at the recent rate, at least 1 s.
    private func retryAfterSeconds(depth: Int) -> Int {
        let rate = metrics.recentImagesPerSecond
        guard rate > 0 else { return 1 }
        return max(1, Int((Double(depth) / rate).rounded(.up)))
    }

    /// Removes a ticket that will not be served (timed out or cancelled while queued).
    private func withdraw(_ ticket: Ticket) {
        condition.lock()
        queue.removeAll { $0 === ticket }
        metrics.setQueueDepth(queue.count)
        condition.unlock()
    }

    private func workLoop() {
        while let batch = nextBatch() {
            let started = DispatchTime.now().uptimeNanoseconds
            let outcomes = model.captions(for: batch.map(\.request), batchSize: batch.count)
            metrics.batchDone(size: batch.count)
            for (ticket, outcome) in zip(batch, outcomes) {
                let wait = Double(started - ticket.enqueuedNanos) / 1e6
                ticket.resolve(outcome.result.map { ScheduledCaption(result: $0, queueWaitMs: wait, batchSize: batch.count) })
            }
        }
        condition.lock()
        finished = true
        condition.unlock()
    }

    /// Blocks until a batch is due; `nil` once stopping and the queue is empty.
    private func nextBatch() -> [Ticket]? {
        condition.lock(); defer { condition.unlock() }
        while true {
            while queue.isEmpty {
                if stopping { return nil }
                condition.wait()
            }
            // Wait for more images up to the oldest one's deadline, unless stopping.
            let deadline = queue[0].enqueuedNanos + maxDelayNanos
            while queue.count < maxBatch && !stopping && !queue.isEmpty {
                let now = DispatchTime.now().uptimeNanoseconds
                if now >= deadline { break }
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(deadline - now) / 1e9))
            }
            let count = min(maxBatch, queue.count)
            let taken = Array(queue.prefix(count))
            queue.removeFirst(count)
            metrics.setQueueDepth(queue.count)
            // Tickets already answered (timed out, client gone) are not captioned.
            let live = taken.filter { !$0.isResolved }
            if !live.isEmpty {
                for ticket in live { metrics.queueWait(nanos: DispatchTime.now().uptimeNanoseconds - ticket.enqueuedNanos) }
                return live
            }
        }
    }
}

/// One queued image and the one continuation waiting for it: resolved exactly once, by the
/// worker, the timeout or the client's cancellation, whichever comes first.
final class Ticket: @unchecked Sendable {
    let request: CaptionRequest
    let enqueuedNanos = DispatchTime.now().uptimeNanoseconds
    private let lock = NSLock()
    private var continuation: CheckedContinuation<ScheduledCaption, any Error>?
    private var pending: Result<ScheduledCaption, any Error>?
    private var resolved = false

    init(request: CaptionRequest) { self.request = request }

    var isResolved: Bool { lock.lock(); defer { lock.unlock() }; return resolved }

    func attach(_ continuation: CheckedContinuation<ScheduledCaption, any Error>) {
        lock.lock()
        if let pending {
            // Resolved (cancelled) before the continuation existed.
            lock.unlock()
            continuation.resume(with: pending)
            return
        }
        self.continuation = continuation
        lock.unlock()
    }

    /// Answers the waiting request; `false` if it was already answered.
    @discardableResult
    func resolve(_ result: Result<ScheduledCaption, any Error>) -> Bool {
        lock.lock()
        guard !resolved else { lock.unlock(); return false }
        resolved = true
        guard let continuation else { pending = result; lock.unlock(); return true }
        self.continuation = nil
        lock.unlock()
        continuation.resume(with: result)
        return true
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
