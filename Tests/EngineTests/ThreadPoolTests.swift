import Engine
import Foundation
import Synchronization
import XCTest

/// The pool hands every index of every job out exactly once, whether its threads are still
/// watching for work (back-to-back jobs) or have gone to sleep (jobs after idle gaps longer than
/// the watch), and a pool can be dropped while its workers are in either state.
final class ThreadPoolTests: XCTestCase {
    func runJobs(_ pool: ThreadPool, jobs: Int, gapEvery: Int, gap: TimeInterval) {
        for job in 0..<jobs {
            let count = 1 + (job * 7) % 23
            // Each index owns one slot; one that ran twice (or never) shows up as a count != 1.
            let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
            hits.initialize(repeating: 0)
            defer { hits.deallocate() }
            pool.parallelFor(count) { i in hits[i] += 1 }
            for i in 0..<count {
                XCTAssertEqual(hits[i], 1, "job \(job): index \(i) of \(count)")
            }
            if gapEvery > 0 && job % gapEvery == gapEvery - 1 { Thread.sleep(forTimeInterval: gap) }
        }
    }

    func testBackToBackJobs() {
        for threads in [1, 2, 3, 4] {
            runJobs(ThreadPool(threads: threads), jobs: 2000, gapEvery: 0, gap: 0)
        }
    }

    func testJobsAfterIdleGaps() {
        // 20 ms gaps: far past the ~100 µs watch, so workers and caller sleep and are woken.
        runJobs(ThreadPool(threads: 3), jobs: 60, gapEvery: 3, gap: 0.02)
    }

    func testSlowWorkMakesTheCallerSleepAndWake() {
        let pool = ThreadPool(threads: 2)
        let total = Atomic<Int>(0)
        // Each index takes ~5 ms, so the caller outlasts its watch and waits on the condition.
        pool.parallelFor(4) { i in
            Thread.sleep(forTimeInterval: 0.005)
            total.wrappingAdd(i + 1, ordering: .relaxed)
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 10)
    }

    func testPoolsComeAndGo() {
        for round in 0..<50 {
            let pool = ThreadPool(threads: 2)
            runJobs(pool, jobs: round % 5, gapEvery: 0, gap: 0)
        }
    }
}
