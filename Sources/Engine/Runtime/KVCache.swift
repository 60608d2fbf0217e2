import CCMFormat

/// The decoder's KV cache, owned in one place with its layout stated once.
///
/// Layout: every state of the decoder graph (`k_cache.l`, `v_cache.l`) is declared
/// `[B, max_ctx, W...]` and stored as `slots × capacity × W` elements, slot-major: the cached
/// positions of slot `s` are `capacity · W` contiguous elements at `s · capacity · W`. A decoder
/// run over `rows` batch rows starting at slot `first` sees the states as `[rows, capacity, W]`
/// views beginning at slot `first` (batch row `b` is slot `first + b`).
///
/// Each slot has a length: the positions it holds. Slots in use are always `0..<active`
/// (a decode step runs exactly those rows): `allocate` takes slots at the end and `release`
/// fills the holes it leaves with the last slots in use, returning the moves so that owners
/// can follow their rows. Beam search reorders a group of slots (`reorder`), sampling and beam
/// search copy a prefilled slot into others (`copy`). Buffers are allocated untouched (the
/// pages count in RSS only once written); nothing ever reads a position before it is written.
final class KVCache {
    /// Rows the cache can hold at once.
    let slots: Int
    /// Positions per slot (`max_ctx`).
    let capacity: Int
    /// Positions held by each slot.
    private(set) var lengths: [Int]
    /// Slots in use: `0..<active`.
    private(set) var active = 0
    private let buffers: [UnsafeMutableRawPointer]
    /// Bytes of one position of one slot, per state.
    private let positionBytes: [Int]
    private let scratch: UnsafeMutableRawPointer
    private let scratchBytes: Int

    /// - Parameters: `graph` names the graph in errors; `states` its state specs, each of
    ///   which must be `[B, max_ctx, fixed...]`; `slots` and `capacity` the planned `B` and `max_ctx`.
    init(graph: String, states: [ValueSpec], slots: Int, capacity: Int) throws {
        var perPosition: [Int] = []
        for spec in states {
            guard spec.shape.count >= 2, spec.shape[0] == .symbol("B"), spec.shape[1] == .symbol("max_ctx") else {
                throw ExecutorError.shapeMismatch(graph: graph, node: spec.name,
                    detail: "state \(spec.shape) must be [B, max_ctx, ...] (the KV-cache layout, docs/ENGINE.md)")
            }
            var width = 1
            for dim in spec.shape.dropFirst(2) {
                guard case .fixed(let n) = dim, n > 0 else {
                    throw ExecutorError.shapeMismatch(graph: graph, node: spec.name, detail: "state \(spec.shape): dimensions after max_ctx must be fixed")
                }
                width *= n
            }
            perPosition.append(width * spec.dtype.size)
        }
        self.slots = max(1, slots)
        self.capacity = max(1, capacity)
        positionBytes = perPosition
        buffers = perPosition.map { UnsafeMutableRawPointer.allocate(byteCount: max($0 * max(1, slots) * max(1, capacity), 64), alignment: 64) }
        scratchBytes = max(64, (perPosition.max() ?? 0) * self.capacity * self.slots)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
        lengths = [Int](repeating: 0, count: self.slots)
    }

    deinit {
        for b in buffers { b.deallocate() }
        scratch.deallocate()
    }

    var stateCount: Int { buffers.count }

    /// Bytes of one slot of state `state`.
    func slotBytes(_ state: Int) -> Int { positionBytes[state] * capacity }

    /// Where slot `slot` of state `state` begins.
    func pointer(state: Int, slot: Int) -> UnsafeMutableRawPointer { buffers[state] + slot * slotBytes(state) }

    /// Total bytes of the cache (every state, every slot).
    var bytes: Int { positionBytes.reduce(0, +) * capacity * slots }

    /// Forgets every slot (a new batch or image).
    func clear() {
        active = 0
        for i in lengths.indices { lengths[i] = 0 }
    }

    /// Takes `count` more slots (empty) at the end of the ones in use; nil when they do not fit.
    func allocate(_ count: Int) -> Range<Int>? {
        guard count >= 0, active + count <= slots else { return nil }
        let range = active..<(active + count)
        for s in range { lengths[s] = 0 }
        active += count
        return range
    }

    /// Frees `freed` and keeps the slots in use contiguous by moving the last ones into the
    /// holes; returns the moves `(from, to)` in the order done.
    @discardableResult
    func release(_ freed: [Int]) -> [(from: Int, to: Int)] {
        var free = Set(freed.filter { $0 >= 0 && $0 < active })
        var moves: [(from: Int, to: Int)] = []
        while !free.isEmpty {
            let last = active - 1
            if free.remove(last) != nil { active -= 1; continue }
            let hole = free.min()!
            free.remove(hole)
            copy(from: last, to: hole)
            moves.append((last, hole))
            active -= 1
        }
        return moves
    }

    /// Records that `positions` new positions were written into each of `range`'s slots.
    func advance(_ range: Range<Int>, by positions: Int) {
        for s in range { lengths[s] += positions }
    }

    /// Copies slot `from` (its `lengths[from]` positions) over slot `to`.
    func copy(from: Int, to: Int) {
        guard from != to else { return }
        let n = lengths[from]
        for i in buffers.indices {
            pointer(state: i, slot: to).copyMemory(from: pointer(state: i, slot: from), byteCount: n * positionBytes[i])
        }
        lengths[to] = n
    }

    /// Beam search: afterwards slot `targets[i]` holds what slot `sources[i]` held (a slot may
    /// be the source of several targets; targets and sources may overlap).
    func reorder(_ targets: [Int], from sources: [Int]) {
        precondition(targets.count == sources.count && targets.count <= slots, "KV-cache reorder: \(sources.count) sources for \(targets.count) slots")
        if targets == sources { return }
        let old = sources.map { lengths[$0] }
        for i in buffers.indices {
            let slot = slotBytes(i)
            for (j, source) in sources.enumerated() {
                (scratch + j * slot).copyMemory(from: pointer(state: i, slot: source), byteCount: old[j] * positionBytes[i])
            }
            for (j, target) in targets.enumerated() where target != sources[j] {
                pointer(state: i, slot: target).copyMemory(from: scratch + j * slot, byteCount: old[j] * positionBytes[i])
            }
        }
        for (j, target) in targets.enumerated() { lengths[target] = old[j] }
    }
}
