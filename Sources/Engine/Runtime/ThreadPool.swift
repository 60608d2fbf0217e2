import Foundation

/// A persistent pool of worker threads for data-parallel kernels.
///
/// `parallelFor` splits `0..<count` across the workers and the calling thread and returns
/// when all are done. Workers sleep on a condition variable when idle (no spinning), so an idle
/// pool costs nothing. A pool of size 1 runs everything on the caller. One pool serves one
/// caller at a time (each session owns its pool).
public final class ThreadPool: @unchecked Sendable {
    /// Total threads including the caller.
    public let threads: Int
    private let state: PoolState

    public init(threads: Int) {
        self.threads = max(1, threads)
        state = PoolState(workers: self.threads - 1)
        for _ in 1..<self.threads {
            // Workers hold the state, not the pool, so the pool can go away while they wake up.
            let state = self.state
            let t = Thread { state.workerLoop() }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    deinit { state.shutDown() }

    /// Runs `body(i)` for every `i` in `0..<count`, spread over the pool; blocks until done.
    /// `body` must be safe to call concurrently for different `i`.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if threads == 1 || count == 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            state.run(count: count, body: escapable)
        }
    }
}

/// The shared part of a pool: the current job and the condition workers wait on.
private final class PoolState: @unchecked Sendable {
    private let condition = NSCondition()
    private let workerCount: Int
    private var generation = 0
    private var pendingWorkers = 0
    private var job: ((Int) -> Void)?
    private var jobCount = 0
    private var nextIndex = 0
    private var shuttingDown = false

    init(workers: Int) { workerCount = workers }

    func run(count: Int, body: @escaping (Int) -> Void) {
        condition.lock()
        job = body
        jobCount = count
        nextIndex = 0
        pendingWorkers = workerCount
        generation += 1
        condition.broadcast()
        condition.unlock()

        drain(body)

        condition.lock()
        while pendingWorkers > 0 { condition.wait() }
        job = nil
        condition.unlock()
    }

    func shutDown() {
        condition.lock()
        shuttingDown = true
        condition.broadcast()
        condition.unlock()
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

    func workerLoop() {
        var seen = 0
        while true {
            condition.lock()
            while generation == seen && !shuttingDown { condition.wait() }
            if shuttingDown { condition.unlock(); return }
            seen = generation
            var body = job
            condition.unlock()
            if let work = body { drain(work) }
            // Drop our reference before reporting done: the caller's closure must not outlive
            // `parallelFor` (it is non-escaping, and the runtime checks).
            body = nil
            condition.lock()
            pendingWorkers -= 1
            if pendingWorkers == 0 { condition.broadcast() }
            condition.unlock()
        }
    }
}
