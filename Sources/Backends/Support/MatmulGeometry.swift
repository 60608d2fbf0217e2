import CCMFormat
import Engine

/// Sizes of one `matmul` call, shared by every backend.
public struct MatmulGeometry {
    public let batches: Int
    public let m: Int
    public let k: Int
    public let n: Int
    public let outputShape: Shape

    public init(a: Shape, b: Shape, transposeB: Bool, _ label: NodeLabel) throws {
        guard a.rank >= 2, b.rank == a.rank else {
            throw label.error("a \(a) and b \(b) must have equal rank >= 2")
        }
        var batches = 1
        for i in 0..<(a.rank - 2) {
            guard a[i] == b[i] else { throw label.error("batch dimensions of a \(a) and b \(b) differ") }
            batches *= a[i]
        }
        let m = a[a.rank - 2], k = a[a.rank - 1]
        let bk = transposeB ? b[b.rank - 1] : b[b.rank - 2]
        let n = transposeB ? b[b.rank - 2] : b[b.rank - 1]
        guard bk == k else {
            throw label.error("a \(a) has K=\(k) but b \(b) has K=\(bk)\(transposeB ? " (transpose_b)" : "")")
        }
        var out = a
        out[out.rank - 1] = n
        self.batches = batches
        self.m = m
        self.k = k
        self.n = n
        outputShape = out
    }
}
