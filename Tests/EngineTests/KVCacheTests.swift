import CCMFormat
@testable import Engine
import XCTest

/// The KV cache's layout and bookkeeping: slots stay contiguous through release, reorder
/// copies what beam search expects, and states that do not have the layout are refused.
final class KVCacheTests: XCTestCase {
    let states = [ValueSpec(name: "k", dtype: .f32, shape: [.symbol("B"), .symbol("max_ctx"), .fixed(2)]),
                  ValueSpec(name: "v", dtype: .f32, shape: [.symbol("B"), .symbol("max_ctx"), .fixed(2)])]

    /// Writes `positions` positions into `slot`, every float `value`.
    func fill(_ cache: KVCache, slot: Int, value: Float, positions: Int) {
        for i in 0..<cache.stateCount {
            let p = cache.pointer(state: i, slot: slot).assumingMemoryBound(to: Float.self)
            for j in 0..<(positions * 2) { p[j] = value + Float(i) * 1000 }
        }
        cache.advance(slot..<(slot + 1), by: positions)
    }

    func first(_ cache: KVCache, slot: Int, state: Int = 1) -> Float {
        cache.pointer(state: state, slot: slot).assumingMemoryBound(to: Float.self)[0]
    }

    func testReleaseKeepsSlotsContiguousAndMovesContents() throws {
        let cache = try KVCache(graph: "decoder", states: states, slots: 5, capacity: 4)
        XCTAssertEqual(cache.allocate(5), 0..<5)
        XCTAssertNil(cache.allocate(1))
        for s in 0..<5 { fill(cache, slot: s, value: Float(s), positions: s % 4 + 1) }
        let moves = cache.release([1, 4, 2])
        XCTAssertEqual(cache.active, 2)
        XCTAssertEqual(moves.map(\.from), [3])
        XCTAssertEqual(moves.map(\.to), [1])
        XCTAssertEqual(first(cache, slot: 1), 1003)
        XCTAssertEqual(cache.lengths[1], 4)
        XCTAssertEqual(cache.allocate(2), 2..<4)
        XCTAssertEqual(cache.lengths[2], 0)
    }

    func testReorderFollowsParents() throws {
        let cache = try KVCache(graph: "decoder", states: states, slots: 4, capacity: 3)
        _ = cache.allocate(3)
        for s in 0..<3 { fill(cache, slot: s, value: Float(s + 1), positions: s + 1) }
        cache.reorder([0, 1, 2], from: [2, 2, 0])
        XCTAssertEqual((0..<3).map { first(cache, slot: $0, state: 0) }, [3, 3, 1])
        XCTAssertEqual(Array(cache.lengths.prefix(3)), [3, 3, 1])
    }

    func testStatesWithoutTheLayoutAreRefused() {
        let bad = [ValueSpec(name: "k", dtype: .f32, shape: [.symbol("max_ctx"), .symbol("B"), .fixed(2)])]
        XCTAssertThrowsError(try KVCache(graph: "decoder", states: bad, slots: 2, capacity: 2)) {
            XCTAssertTrue("\($0)".contains("[B, max_ctx, ...]"), "\($0)")
        }
    }
}
