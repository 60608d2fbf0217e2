import Foundation
import Synchronization

/// A persistent pool of worker threads for data-parallel kernels.
///
/// `parallelFor` splits `0..<count` across the workers and the calling thread and returns
/// when all are done. Between the kernels of one step, threads watch for the next job for about
/// 100 µs (yielding the core) before they sleep on a condition variable, so an idle pool costs
/// nothing. A pool of size 1 runs everything on the caller. One pool serves one caller at a
/// time (each session owns its pool).
public final class ThreadPool: @unchecked Sendable {
    /// Total threads including the caller.
    public let threads: Int
    private let state: PoolState

    /// - Parameter watchForWork: whether threads watch for the next job before they sleep (see
    ///   `PoolState`); `false` sleeps at once, for callers whose other work runs on another
    ///   library's threads.
    public init(threads: Int, watchForWork: Bool = true) {
        self.threads = max(1, threads)
        state = PoolState(workers: self.threads - 1, watchForWork: watchForWork)
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

/// The shared part of a pool: the current job, and how threads meet.
///
/// A decode step runs a few hundred short parallel kernels; waking a sleeping thread through
/// the kernel costs tens of microseconds each time, which summed to milliseconds per step. So a
/// worker that finishes a job first watches for the next one for a short while (`spinLimit`
/// rounds of `sched_yield`, which also gives the core to any other runnable thread) and only
/// then sleeps on the condition; the caller likewise watches for the workers to finish before
/// it sleeps. An idle pool still ends up asleep and costs nothing.
private final class PoolState: @unchecked Sendable {
    private let condition = NSCondition()
    private let workerCount: Int
    /// Bumped once per job, after the job's fields are written (release); workers read the
    /// fields after they see the new value (acquire).
    private let generation = Atomic<Int>(0)
    /// Workers that have not yet finished the current job.
    private let pending = Atomic<Int>(0)
    /// The next index of the current job to hand out.
    private let nextIndex = Atomic<Int>(0)
    private let shuttingDown = Atomic<Bool>(false)
    private var job: ((Int) -> Void)?
    private var jobCount = 0
    /// Threads asleep on the condition (guarded by it): a job or completion only signals when
    /// someone sleeps.
    private var sleepingWorkers = 0
    private var callerSleeping = false
    /// Rounds of `sched_yield` (~0.1-1 µs each) a thread watches before it sleeps: ~100 µs,
    /// longer than the gaps between a step's kernels, far shorter than the gaps between steps
    /// of an idle session. `CLIPCAP_POOL_SPIN=0` sleeps at once (to compare).
    private let spinLimit: Int

    init(workers: Int, watchForWork: Bool) {
        workerCount = workers
        let configured = ProcessInfo.processInfo.environment["CLIPCAP_POOL_SPIN"].flatMap(Int.init).map { max(0, $0) } ?? 256
        spinLimit = watchForWork ? configured : 0
    }

    func run(count: Int, body: @escaping (Int) -> Void) {
        job = body
        jobCount = count
        nextIndex.store(0, ordering: .relaxed)
        pending.store(workerCount, ordering: .relaxed)
        generation.wrappingAdd(1, ordering: .releasing)
        condition.lock()
        if sleepingWorkers > 0 { condition.broadcast() }
        condition.unlock()

        drain(body, count: count)

        var spins = 0
        while pending.load(ordering: .acquiring) > 0 {
            if spins < spinLimit {
                spins += 1
                sched_yield()
                continue
            }
            condition.lock()
            callerSleeping = true
            while pending.load(ordering: .acquiring) > 0 { condition.wait() }
            callerSleeping = false
            condition.unlock()
        }
        job = nil
    }

    func shutDown() {
        shuttingDown.store(true, ordering: .releasing)
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// Claims indices one at a time until none are left.
    private func drain(_ body: (Int) -> Void, count: Int) {
        while true {
            let i = nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= count { return }
            body(i)
        }
    }

    /// Waits until the generation moves past `seen` (or the pool shuts down); returns it.
    private func awaitJob(after seen: Int) -> Int? {
        var spins = 0
        while true {
            if shuttingDown.load(ordering: .acquiring) { return nil }
            let g = generation.load(ordering: .acquiring)
            if g != seen { return g }
            if spins < spinLimit {
                spins += 1
                sched_yield()
                continue
            }
            condition.lock()
            sleepingWorkers += 1
            while generation.load(ordering: .acquiring) == seen && !shuttingDown.load(ordering: .acquiring) {
                condition.wait()
            }
            sleepingWorkers -= 1
            condition.unlock()
        }
    }

    func workerLoop() {
        var seen = 0
        while let g = awaitJob(after: seen) {
            seen = g
            var body = job
            let count = jobCount
            if let work = body { drain(work, count: count) }
            // Drop our reference before reporting done: the caller's closure must not outlive
            // `parallelFor` (it is non-escaping, and the runtime checks).
            body = nil
            if pending.wrappingSubtract(1, ordering: .releasing).newValue == 0 {
                condition.lock()
                if callerSleeping { condition.broadcast() }
                condition.unlock()
            }
        }
    }
}
