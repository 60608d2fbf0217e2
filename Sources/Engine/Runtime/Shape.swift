/// A tensor shape of rank <= 8 stored inline, so that shape bookkeeping during a decode
/// step allocates nothing on the heap.
public struct Shape: Sendable, Equatable, CustomStringConvertible {
    public static let maxRank = 8
    public private(set) var rank: Int
    private var storage: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)

    public init(_ dims: [Int]) {
        precondition(dims.count <= Shape.maxRank, "rank \(dims.count) exceeds \(Shape.maxRank)")
        rank = dims.count
        for (i, d) in dims.enumerated() { self[i] = d }
    }

    public init(_ dims: Int...) { self.init(dims) }

    public subscript(index: Int) -> Int {
        get {
            precondition(index >= 0 && index < rank, "axis \(index) out of range for rank \(rank)")
            return withUnsafeBytes(of: storage) { $0.load(fromByteOffset: index * MemoryLayout<Int>.stride, as: Int.self) }
        }
        set {
            precondition(index >= 0 && index < Shape.maxRank)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: newValue, toByteOffset: index * MemoryLayout<Int>.stride, as: Int.self) }
        }
    }

    /// Number of elements (1 for rank 0).
    public var elementCount: Int {
        var n = 1
        for i in 0..<rank { n *= self[i] }
        return n
    }

    /// The element count, or nil when it overflows: for sizes read from a file, before they
    /// are trusted (`elementCount` is for shapes already checked).
    public var checkedElementCount: Int? {
        var n = 1
        for i in 0..<rank {
            guard self[i] >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: self[i])
            if overflow { return nil }
            n = p
        }
        return n
    }

    /// The last dimension (1 for rank 0).
    public var last: Int { rank == 0 ? 1 : self[rank - 1] }

    /// Elements in all but the last dimension: the number of rows of a row-wise op.
    public var rows: Int { rank == 0 ? 1 : elementCount / Swift.max(last, 1) }

    public var dims: [Int] { (0..<rank).map { self[$0] } }

    /// Appends a dimension.
    public mutating func append(_ d: Int) {
        precondition(rank < Shape.maxRank)
        rank += 1
        self[rank - 1] = d
    }

    /// Removes the last dimension.
    public mutating func removeLast() {
        precondition(rank > 0)
        rank -= 1
    }

    public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }

    public static func == (a: Shape, b: Shape) -> Bool {
        guard a.rank == b.rank else { return false }
        for i in 0..<a.rank where a[i] != b[i] { return false }
        return true
    }
}
