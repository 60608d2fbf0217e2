import Foundation

/// A persistent pool of worker threads for data-parallel kernels.
///
/// `parallelFor` splits `0..<count` across the workers and the calling thread and returns
/// when all are done. Workers sleep on a condition when idle (no spinning when idle).
/// A pool of size 1 runs everything on the caller.
public final class ThreadPool: @unchecked Sendable {
    /// Total threads including the caller.
    public let threads: Int

    private let condition = NSCondition()
    private var generation = 0
    private var pendingWorkers = 0
    private var job: ((Int) -> Void)?
    private var jobCount = 0
    private var nextIndex = 0
    private var shuttingDown = false
    private var workers: [Thread] = []

    public init(threads: Int) {
        self.threads = max(1, threads)
        for _ in 1..<self.threads {
            let t = Thread { [unowned self] in self.workerLoop() }
            t.stackSize = 1 << 20
            workers.append(t)
            t.start()
        }
    }

    deinit {
        condition.lock()
        shuttingDown = true
        condition.broadcast()
        condition.unlock()
    }

    /// Runs `body(i)` for every `i` in `0..<count`, spread over the pool; blocks until done.
    /// `body` must be safe to call concurrently for different `i`.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if threads == 1 || count == 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            condition.lock()
            job = escapable
            jobCount = count
            nextIndex = 0
            pendingWorkers = workers.count
            generation += 1
            condition.broadcast()
            condition.unlock()

            drain(escapable)

            condition.lock()
            while pendingWorkers > 0 { condition.wait() }
            job = nil
            condition.unlock()
        }
    }

    /// Claims indices one at a time until none are left.
    private func drain(_ body: (Int) -> Void) {
        while true {
            condition.lock()
            let i = nextIndex
            nextIndex += 1
            condition.unlock()
            if i >= jobCount { return }
            body(i)
        }
    }

    private func workerLoop() {
        var seen = 0
        while true {
            condition.lock()
            while generation == seen && !shuttingDown { condition.wait() }
            if shuttingDown { condition.unlock(); return }
            seen = generation
            let body = job
            condition.unlock()
            if let body { drain(body) }
            condition.lock()
            pendingWorkers -= 1
            if pendingWorkers == 0 { condition.broadcast() }
            condition.unlock()
        }
    }
}
