import CCMFormat

/// A phase's weights cut into stages of consecutive nodes, so that only about one stage's
/// pages are mapped at a time while the phase runs: a stage's pages are mapped just before its
/// first node and released after the last node that reads them.
///
/// The image encoder runs once per image and reads each weight once, so mapping it whole
/// ahead of the run only adds its full size to the peak resident set; streamed in stages it
/// adds about one stage. The cut follows the graph's node order and weight sizes only: the
/// runtime does not know what a "layer" is.
struct WeightStages: Sendable {
    /// Index of each stage's first node, ascending; the first is 0.
    let firstNode: [Int]
    /// Pages of the weights first read in each stage (mapped when the stage begins).
    let mapAtStart: [TensorPages]
    /// Pages of the weights last read in each stage (released when the stage ends).
    let releaseAtEnd: [TensorPages]

    var count: Int { firstNode.count }

    /// Cuts `graph` into stages of about `stageBytes` of stored weights each (at least one).
    /// Pages shared with tensors in `keeping` (other phases' weights) or with tensors of other
    /// stages are never released early: `ModelFile.pages(ofTensors:keeping:)` leaves them out.
    init(graph: CompiledGraph, file: ModelFile, stageBytes: Int, keeping: Set<String>) {
        let byNode = graph.weightNamesByNode
        var firstUse: [String: Int] = [:]
        var lastUse: [String: Int] = [:]
        for (n, names) in byNode.enumerated() {
            for name in names {
                if firstUse[name] == nil { firstUse[name] = n }
                lastUse[name] = n
            }
        }
        // Bytes that become needed at each node, then the cut points.
        var newBytes = [Int](repeating: 0, count: byNode.count)
        for (name, n) in firstUse { newBytes[n] += file.tensor(named: name)?.storedLength ?? 0 }
        let stageBytes = max(1, stageBytes)
        var starts = [0]
        var filled = 0
        for (n, bytes) in newBytes.enumerated() {
            if filled > 0 && filled + bytes > stageBytes {
                starts.append(n)
                filled = 0
            }
            filled += bytes
        }
        let stageOf: (Int) -> Int = { node in
            var s = 0
            while s + 1 < starts.count && starts[s + 1] <= node { s += 1 }
            return s
        }
        var mapped = [Set<String>](repeating: [], count: starts.count)
        var released = [Set<String>](repeating: [], count: starts.count)
        for (name, n) in firstUse { mapped[stageOf(n)].insert(name) }
        for (name, n) in lastUse { released[stageOf(n)].insert(name) }
        let all = Set(firstUse.keys)
        firstNode = starts
        mapAtStart = mapped.map { file.pages(ofTensors: $0, keeping: keeping.union(all.subtracting($0))) }
        releaseAtEnd = released.map { file.pages(ofTensors: $0, keeping: keeping.union(all.subtracting($0))) }
    }
}
