import CCMFormat

/// How one node's output shape follows from its input shapes, with attributes parsed once at
/// load time. Shape inference runs before every graph run (shapes depend on `B`, `T`, `n_past`)
/// and allocates nothing.
enum ShapeRule: Sendable {
    case sameAsFirst
    case gather
    case linear(outFeatures: Int)
    case matmul(transposeB: Bool)
    case reshape([Int])
    case permute([Int])
    case slice(axis: Int, start: SymbolicInt, end: SymbolicInt?, length: SymbolicInt?)
    case concat(axis: Int)
    case expand
    /// `conv2d` and `avg_pool2d` (CLIP ResNet encoders): see `SpatialGeometry.swift`.
    case conv2d(Conv2dGeometry)
    case avgPool2d(Pool2dGeometry)

    /// Elementwise and shape-preserving operators.
    static let sameShapeOps: Set<String> = [
        "add", "mul", "scale", "gelu_erf", "gelu_tanh", "quick_gelu", "tanh", "relu",
        "layer_norm", "l2_normalize", "softmax", "attention", "attention_cached",
    ]

    /// Every operator the executor can plan (docs/OPS.md).
    static let knownOps: Set<String> = sameShapeOps.union([
        "gather", "linear", "linear_i8", "matmul", "reshape", "permute", "slice", "concat", "expand",
        "conv2d", "conv2d_i8", "avg_pool2d",
    ])

    /// Parses the rule for `node`; `weightShape` gives the shape of a constant input, if any.
    static func make(for node: GraphNode, graph: String, weightShape: (Int) -> [Int]?) throws -> ShapeRule {
        func bad(_ detail: String) -> ExecutorError { .badAttribute(graph: graph, node: node.name, detail: detail) }
        func intAttr(_ key: String) -> Int? {
            if case .int(let v)? = node.attrs[key] { return Int(v) }
            return nil
        }
        func intsAttr(_ key: String) -> [Int]? {
            if case .ints(let v)? = node.attrs[key] { return v.map { Int($0) } }
            return nil
        }
        switch node.op {
        case _ where sameShapeOps.contains(node.op):
            return .sameAsFirst
        case "gather":
            return .gather
        case "linear":
            guard node.inputs.count >= 2, let w = weightShape(1), w.count == 2 else {
                throw bad("linear needs a 2-D weight tensor as its second input")
            }
            var layout = "io"
            if case .string(let s)? = node.attrs["w_layout"] { layout = s }
            guard layout == "io" || layout == "oi" else { throw bad("w_layout must be \"io\" or \"oi\", not \"\(layout)\"") }
            return .linear(outFeatures: layout == "io" ? w[1] : w[0])
        case "linear_i8":
            guard node.inputs.count >= 3, let w = weightShape(1), w.count == 2 else {
                throw bad("linear_i8 needs a 2-D int8 weight [N, K] as its second input")
            }
            return .linear(outFeatures: w[0])
        case "matmul":
            return .matmul(transposeB: (intAttr("transpose_b") ?? 0) != 0)
        case "reshape":
            guard let shape = intsAttr("shape"), shape.count <= Shape.maxRank else { throw bad("reshape needs a 'shape' attribute") }
            guard shape.filter({ $0 == -1 }).count <= 1 else { throw bad("reshape: at most one -1") }
            return .reshape(shape)
        case "permute":
            guard let perm = intsAttr("perm"), Set(perm) == Set(0..<perm.count) else { throw bad("permute needs a 'perm' attribute that is a permutation") }
            return .permute(perm)
        case "slice":
            guard let axis = intAttr("axis") else { throw bad("slice needs 'axis'") }
            guard let start = SymbolicInt(node.attrs["start"]) else { throw bad("slice needs 'start'") }
            return .slice(axis: axis, start: start, end: SymbolicInt(node.attrs["end"]), length: SymbolicInt(node.attrs["length"]))
        case "concat":
            guard let axis = intAttr("axis") else { throw bad("concat needs 'axis'") }
            return .concat(axis: axis)
        case "expand":
            return .expand
        case "conv2d", "conv2d_i8", "avg_pool2d":
            return try spatial(node, weightShape: weightShape, bad: bad)
        default:
            throw ExecutorError.unknownOp(graph: graph, node: node.name, op: node.op)
        }
    }

    /// The output shape for these input shapes (absent optional inputs are `nil`).
    func outputShape(inputs: UnsafeBufferPointer<Shape?>, symbols: SymbolBindings) throws -> Shape {
        guard let first = inputs[0] else { throw ShapeError("first input is absent") }
        switch self {
        case .sameAsFirst:
            return first
        case .gather:
            guard inputs.count >= 2, let ids = inputs[1], first.rank == 2 else { throw ShapeError("gather needs table [V, D] and ids") }
            var out = ids
            out.append(first[1])
            return out
        case .linear(let n):
            var out = inputs[0]!
            out[out.rank - 1] = n
            return out
        case .matmul(let transposeB):
            guard inputs.count >= 2, let b = inputs[1], first.rank >= 2, b.rank == first.rank else { throw ShapeError("matmul needs two inputs of equal rank >= 2") }
            var out = first
            out[out.rank - 1] = transposeB ? b[b.rank - 2] : b[b.rank - 1]
            return out
        case .reshape(let target):
            var out = Shape(target)
            var known = 1
            var inferred = -1
            for i in 0..<target.count {
                if target[i] == 0 {
                    guard i < first.rank else { throw ShapeError("reshape: 0 at axis \(i) but input has rank \(first.rank)") }
                    out[i] = first[i]
                } else if target[i] == -1 {
                    inferred = i
                    continue
                }
                known *= out[i]
            }
            if inferred >= 0 {
                guard known > 0, first.elementCount % known == 0 else { throw ShapeError("reshape \(first) to \(target): sizes do not divide") }
                out[inferred] = first.elementCount / known
            }
            guard out.elementCount == first.elementCount else { throw ShapeError("reshape \(first) to \(out): element counts differ") }
            return out
        case .permute(let perm):
            guard perm.count == first.rank else { throw ShapeError("permute of rank \(perm.count) applied to \(first)") }
            var out = first
            for i in 0..<perm.count { out[i] = first[perm[i]] }
            return out
        case .slice(let axis, let start, let end, let length):
            guard axis >= 0 && axis < first.rank else { throw ShapeError("slice axis \(axis) out of range for \(first)") }
            let (lo, hi) = try SliceBounds.resolve(dim: first[axis], start: start, end: end, length: length, symbols: symbols)
            var out = first
            out[axis] = hi - lo
            return out
        case .concat(let axis):
            guard axis >= 0 && axis < first.rank else { throw ShapeError("concat axis \(axis) out of range for \(first)") }
            var out = first
            var total = 0
            for i in 0..<inputs.count {
                guard let s = inputs[i], s.rank == first.rank else { throw ShapeError("concat inputs must have equal rank") }
                for a in 0..<s.rank where a != axis && s[a] != first[a] { throw ShapeError("concat: \(s) does not match \(first) outside axis \(axis)") }
                total += s[axis]
            }
            out[axis] = total
            return out
        case .expand:
            guard inputs.count >= 2, let like = inputs[1], first.rank >= 1, first[0] == 1, like.rank >= 1 else { throw ShapeError("expand needs x [1, ...] and like [N, ...]") }
            var out = first
            out[0] = like[0]
            return out
        case .conv2d(let geometry):
            do { return try SpatialShapes.conv2d(first, geometry) } catch { throw ShapeError(error.description) }
        case .avgPool2d(let geometry):
            do { return try SpatialShapes.avgPool2d(first, geometry) } catch { throw ShapeError(error.description) }
        }
    }

    /// The rules of the spatial operators (kept apart so the op table can take them over whole).
    private static func spatial(_ node: GraphNode, weightShape: (Int) -> [Int]?,
                                bad: (String) -> ExecutorError) throws -> ShapeRule {
        do {
            if node.op == "avg_pool2d" { return .avgPool2d(try Pool2dGeometry(attrs: node.attrs)) }
            guard node.inputs.count >= 2, let w = weightShape(1) else {
                throw bad("\(node.op) needs a weight tensor of the model file as its second input")
            }
            if node.op == "conv2d_i8" { return .conv2d(try Conv2dGeometry(quantizedAttrs: node.attrs, weightShape: w)) }
            return .conv2d(try Conv2dGeometry(attrs: node.attrs, weightShape: w))
        } catch let error as SpatialAttributeError {
            throw bad(error.description)
        }
    }
}

/// Resolves slice bounds the same way for shape inference and kernels.
public enum SliceBounds {
    static func resolve(dim: Int, start: SymbolicInt, end: SymbolicInt?, length: SymbolicInt?, symbols: SymbolBindings) throws -> (Int, Int) {
        var lo = try start.resolve(symbols)
        if lo < 0 { lo += dim }
        var hi: Int
        if let length {
            // An explicit length must fit: running past the end (e.g. past the position table) is an error.
            hi = lo + (try length.resolve(symbols))
        } else if let end {
            // An end bound clamps like Python slicing.
            hi = try end.resolve(symbols)
            if hi < 0 { hi += dim }
            hi = min(hi, dim)
        } else { hi = dim }
        guard lo >= 0, lo <= hi, hi <= dim else { throw ShapeError("slice [\(lo), \(hi)) is outside 0..<\(dim)") }
        return (lo, hi)
    }
}

struct ShapeError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
