import CCMFormat
import Engine

/// Shape rules shared by the kernels of every backend, so that all backends accept and reject
/// exactly the same inputs. All of them work on `Shape` (stored inline) and allocate nothing.
public enum ShapeChecks {
    /// Whether `b` broadcasts to `a` by trailing dimensions (numpy rules, rank of `b` <= rank of `a`).
    @inlinable public static func broadcasts(_ b: Shape, to a: Shape) -> Bool {
        guard b.rank <= a.rank else { return false }
        for i in 0..<b.rank {
            let db = b[b.rank - 1 - i], da = a[a.rank - 1 - i]
            if db != da && db != 1 { return false }
        }
        return true
    }

    /// The product of all dimensions but the last (the number of rows), correct even when the
    /// last dimension is 0.
    @inlinable public static func leadingCount(_ shape: Shape) -> Int {
        var n = 1
        for i in 0..<max(shape.rank - 1, 0) { n *= shape[i] }
        return n
    }

    /// Row-major strides of `shape` (stored in a `Shape` to stay on the stack).
    @inlinable public static func strides(_ shape: Shape) -> Shape {
        var s = shape
        var acc = 1
        var i = shape.rank - 1
        while i >= 0 {
            s[i] = acc
            acc *= shape[i]
            i -= 1
        }
        return s
    }

    /// The output shape of `linear`: `x` with its last dimension replaced by `n`.
    @inlinable public static func replacingLast(_ shape: Shape, with n: Int) -> Shape {
        var out = shape
        if out.rank == 0 { out.append(n) } else { out[out.rank - 1] = n }
        return out
    }

    /// The target shape of `reshape` for an input shape (`0` copies a dimension, one `-1` is inferred).
    public static func reshape(_ input: Shape, to target: [Int], _ label: NodeLabel) throws -> Shape {
        guard target.count <= Shape.maxRank else { throw label.error("shape has rank \(target.count) > \(Shape.maxRank)") }
        var out = Shape(target)
        var known = 1
        var inferred = -1
        for i in 0..<target.count {
            if target[i] == 0 {
                guard i < input.rank else { throw label.error("shape \(target) copies axis \(i) but the input \(input) has rank \(input.rank)") }
                out[i] = input[i]
            } else if target[i] == -1 {
                guard inferred < 0 else { throw label.error("shape \(target) has more than one -1") }
                inferred = i
                continue
            } else if target[i] < 0 {
                throw label.error("shape \(target) has a negative dimension")
            }
            known *= out[i]
        }
        if inferred >= 0 {
            guard known > 0, input.elementCount % known == 0 else {
                throw label.error("cannot reshape \(input) to \(target): sizes do not divide")
            }
            out[inferred] = input.elementCount / known
        }
        guard out.elementCount == input.elementCount else {
            throw label.error("cannot reshape \(input) (\(input.elementCount) elements) to \(out)")
        }
        return out
    }

    /// Checks that `perm` is a permutation of `0..<perm.count` of rank <= 8.
    public static func validatePermutation(_ perm: [Int], _ label: NodeLabel) throws {
        guard perm.count <= Shape.maxRank, Set(perm) == Set(0..<perm.count), perm.count == Set(perm).count else {
            throw label.error("perm \(perm) is not a permutation of 0..<\(perm.count) (rank <= \(Shape.maxRank))")
        }
    }

    /// `out.shape[i] = x.shape[perm[i]]`.
    @inlinable public static func permuted(_ input: Shape, _ perm: Shape) -> Shape {
        var out = input
        for i in 0..<perm.rank { out[i] = input[perm[i]] }
        return out
    }

    /// Normalises a possibly negative `axis` for rank `rank`.
    public static func axis(_ axis: Int, rank: Int, _ label: NodeLabel) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < rank else { throw label.error("axis \(axis) is out of range for rank \(rank)") }
        return a
    }
}
