import CCMFormat

/// The symbolic shape rule of each operator in `OpTable` (docs/OPS.md), with the checks of
/// its attributes' ranges. Dimensions that cannot be known
/// statically are `nil` and skip the checks that need them; symbols compare by name.
enum ShapeRules {
    struct Problem: Error { let message: String }

    typealias Input = (dtype: DType, shape: InferredShape)

    static func infer(_ node: GraphNode, inputs: [Input?], isState: (String) -> Bool) throws -> InferredShape {
        func input(_ i: Int) throws -> Input {
            guard i < inputs.count, let value = inputs[i] else { throw Problem(message: "input \(i) is missing") }
            return value
        }
        func int(_ key: String) -> Int? { if case .int(let v)? = node.attrs[key] { return Int(v) }; return nil }
        func ints(_ key: String) -> [Int]? { if case .ints(let v)? = node.attrs[key] { return v.map { Int($0) } }; return nil }
        func string(_ key: String) -> String? { if case .string(let v)? = node.attrs[key] { return v }; return nil }
        func float(_ key: String) -> Double? {
            switch node.attrs[key] {
            case .float(let v)?: return v
            case .int(let v)?: return Double(v)
            default: return nil
            }
        }

        switch node.op {
        case "gather":
            let table = try input(0), ids = try input(1)
            guard table.shape.count == 2 else { throw Problem(message: "gather table must be [V, D], is rank \(table.shape.count)") }
            guard ids.dtype == .i32 else { throw Problem(message: "gather ids must be i32, are \(ids.dtype)") }
            return ids.shape + [table.shape[1]]

        case "linear", "linear_i8":
            let x = try input(0), w = try input(1)
            guard let k = x.shape.last, w.shape.count == 2 else {
                throw Problem(message: "\(node.op) needs x of rank >= 1 and a rank-2 weight (weight is rank \(w.shape.count))")
            }
            let layout = node.op == "linear_i8" ? "oi" : (string("w_layout") ?? "io")
            guard layout == "io" || layout == "oi" else { throw Problem(message: "w_layout must be \"io\" or \"oi\", is \"\(layout)\"") }
            if let act = node.attrs["activation"] {
                guard case .string(let a) = act, OpTable.fusedActivations.contains(a) else { throw Problem(message: "unknown activation \(act)") }
            }
            let (wk, n) = layout == "io" ? (w.shape[0], w.shape[1]) : (w.shape[1], w.shape[0])
            try same(k, wk, "x's last dimension and the weight's input dimension")
            if node.op == "linear_i8" {
                try checkScales(node, weight: w.shape, scales: try input(2).shape, block: int("block"))
            }
            let biasIndex = node.op == "linear_i8" ? 3 : 2
            if biasIndex < inputs.count, let b = inputs[biasIndex] {
                guard b.shape.count == 1 else { throw Problem(message: "bias must be rank 1") }
                try same(b.shape[0], n, "bias length and output width")
            }
            return Array(x.shape.dropLast()) + [n]

        case "matmul":
            let a = try input(0), b = try input(1)
            guard a.shape.count >= 2, a.shape.count == b.shape.count, let ak = a.shape.last else {
                throw Problem(message: "matmul needs equal ranks >= 2")
            }
            if let t = node.attrs["transpose_b"] {
                guard t == .int(0) || t == .int(1) else { throw Problem(message: "transpose_b must be 0 or 1") }
            }
            let tb = int("transpose_b") == 1
            let bk = tb ? b.shape[b.shape.count - 1] : b.shape[b.shape.count - 2]
            let n = tb ? b.shape[b.shape.count - 2] : b.shape[b.shape.count - 1]
            try same(ak, bk, "inner dimensions")
            return Array(a.shape.dropLast()) + [n]

        case "add", "mul":
            let a = try input(0), b = try input(1)
            guard b.shape.count <= a.shape.count else { throw Problem(message: "b (rank \(b.shape.count)) cannot broadcast to a (rank \(a.shape.count))") }
            for (da, db) in zip(a.shape.reversed(), b.shape.reversed()) where db != .some(.fixed(1)) {
                try same(da, db, "broadcast dimensions")
            }
            return a.shape

        case "scale":
            guard let value = node.attrs["value"], case .float = value else {
                if case .int? = node.attrs["value"] { return try input(0).shape }
                throw Problem(message: "'value' must be a number")
            }
            return try input(0).shape


        case "layer_norm":
            let x = try input(0), g = try input(1), b = try input(2)
            guard g.shape.count == 1, b.shape.count == 1, let d = x.shape.last else { throw Problem(message: "layer_norm needs gamma/beta [D]") }
            guard let eps = float("eps"), eps >= 0 else { throw Problem(message: "eps must be a number >= 0") }
            try same(d, g.shape[0], "gamma length")
            try same(d, b.shape[0], "beta length")
            return x.shape

        case "reshape":
            guard let target = ints("shape") else { throw Problem(message: "shape must be a list of ints") }
            return try reshape(try input(0).shape, target)

        case "permute":
            let x = try input(0)
            guard let perm = ints("perm"), perm.count == x.shape.count, Set(perm) == Set(0..<x.shape.count) else {
                throw Problem(message: "perm must be a permutation of 0..<\(x.shape.count)")
            }
            return perm.map { x.shape[$0] }

        case "slice":
            let x = try input(0)
            guard let axis = int("axis"), axis >= 0, axis < x.shape.count else { throw Problem(message: "axis out of range") }
            guard node.attrs["start"].map(SliceAttribute.isBound) == true, node.attrs["end"].map(SliceAttribute.isBound) != false,
                  node.attrs["length"].map(SliceAttribute.isBound) != false else {
                throw Problem(message: "start, end and length must be integers or symbols")
            }
            if case .int(let n)? = node.attrs["length"], n <= 0 { throw Problem(message: "length must be positive, is \(n)") }
            var out = x.shape
            out[axis] = sliceLength(node.attrs, size: x.shape[axis])
            if case .fixed(let n)? = out[axis], n <= 0 { throw Problem(message: "the slice is empty") }
            if case .fixed(let size)? = x.shape[axis], case .fixed(let n)? = out[axis], case .int(let s)? = node.attrs["start"] {
                let start = s < 0 ? size + Int(s) : Int(s)
                guard start >= 0, start + n <= size else { throw Problem(message: "slice [\(start), \(start + n)) outside dimension \(size)") }
            }
            return out

        case "concat":
            let parts = try (0..<inputs.count).map { try input($0) }
            guard let first = parts.first, let axis = int("axis"), axis >= 0, axis < first.shape.count else {
                throw Problem(message: "axis out of range")
            }
            var total: Int? = 0
            for part in parts {
                guard part.shape.count == first.shape.count else { throw Problem(message: "concat inputs differ in rank") }
                for d in 0..<first.shape.count where d != axis { try same(part.shape[d], first.shape[d], "concat dimension \(d)") }
                if case .fixed(let n)? = part.shape[axis], let t = total { total = t + n } else { total = nil }
            }
            var out = first.shape
            out[axis] = total.map { .fixed($0) }
            return out

        case "expand":
            let x = try input(0), like = try input(1)
            guard let first = x.shape.first, first == .some(.fixed(1)), let n = like.shape.first else {
                throw Problem(message: "expand needs x [1, ...] and like [N, ...]")
            }
            return [n] + x.shape.dropFirst()

        case "attention", "attention_cached":
            let q = try input(0), k = try input(1), v = try input(2)
            guard q.shape.count == 3, k.shape.count == 3, v.shape.count == 3 else { throw Problem(message: "q, k, v must be [B, T, D]") }
            guard let heads = int("heads"), heads > 0, heads <= 4096 else { throw Problem(message: "heads must be a positive int") }
            if case .fixed(let d)? = q.shape[2], d % heads != 0 { throw Problem(message: "\(heads) heads do not divide width \(d)") }
            try same(q.shape[2], k.shape[2], "q and k widths")
            try same(k.shape[2], v.shape[2], "k and v widths")
            try same(k.shape[1], v.shape[1], "k and v lengths")
            if node.op == "attention_cached" {
                for i in 3...4 {
                    guard isState(node.inputs[i]) else { throw Problem(message: "input '\(node.inputs[i])' must be a graph state (KV cache)") }
                    let cache = try input(i)
                    guard cache.shape.count == 3 else { throw Problem(message: "caches must be [B, max_ctx, D]") }
                    try same(cache.shape[2], k.shape[2], "cache width")
                }
                // Optional per-row cached lengths (continuous batching): i32 [B].
                if node.inputs.count > 5, !node.inputs[5].isEmpty {
                    let lengths = try input(5)
                    guard lengths.dtype == .i32, lengths.shape.count == 1 else {
                        throw Problem(message: "past_lengths must be i32 [B], is \(lengths.dtype) rank \(lengths.shape.count)")
                    }
                    try same(lengths.shape[0], q.shape[0], "past_lengths and batch")
                }
            }
            return q.shape

        case _ where SpatialShapeRules.handles(node.op):
            return try SpatialShapeRules.infer(node, inputs: inputs)

        case _ where SpatialShapeRules.handles(node.op):
            return try SpatialShapeRules.infer(node, inputs: inputs)

        default:
            // Elementwise and row-wise operators need no rule of their own: the op table says
            // their output has their first input's shape.
            guard OpTable.definition(node.op)?.preservesShape == true else { throw Problem(message: "no shape rule for '\(node.op)'") }
            return try input(0).shape
        }
    }

    /// The scales of an int8 weight [N, K]: one per output row (`per_channel`) or one per
    /// `block` inputs of each row (`block`), so a kernel never reads past them.
    static func checkScales(_ node: GraphNode, weight: InferredShape, scales: InferredShape, block: Int?) throws {
        guard case .fixed(let n)? = weight[0], case .fixed(let k)? = weight[1] else { return }
        var scheme = "per_channel"
        if case .string(let s)? = node.attrs["scheme"] { scheme = s }
        let expected: Int
        switch scheme {
        case "per_channel": expected = n
        case "block":
            guard let block, block >= 1 else { throw Problem(message: "scheme 'block' needs an integer attribute 'block' >= 1") }
            expected = n * ((k + block - 1) / block)
        default: throw Problem(message: "scheme must be 'per_channel' or 'block', is '\(scheme)'")
        }
        guard let count = GraphLimits.fixedElements(scales), !scales.contains(where: { $0 == nil }), count == expected else {
            throw Problem(message: "the scales \(scales) do not hold the \(expected) values that \(scheme) needs for a [\(n), \(k)] weight")
        }
    }

    /// Fails when both dimensions are known and differ.
    static func same(_ a: Dim?, _ b: Dim?, _ what: String) throws {
        if let a, let b, a != b { throw Problem(message: "\(what) differ: \(a) vs \(b)") }
    }
    static func same(_ a: Dim?, _ b: Int, _ what: String) throws { try same(a, .fixed(b), what) }
    static func same(_ a: Int, _ b: Dim?, _ what: String) throws { try same(.fixed(a), b, what) }

    private static func sliceLength(_ attrs: [String: AttrValue], size: Dim?) -> Dim? {
        if let length = attrs["length"] {
            switch length {
            case .int(let n): return .fixed(Int(n))
            case .symbol(let s): return .symbol(s)
            default: return nil
            }
        }
        guard case .int(let s)? = attrs["start"] else { return nil }
        if let end = attrs["end"] {
            guard case .int(let e) = end, s >= 0, e >= 0 else { return nil }
            return .fixed(Int(e - s))
        }
        if s < 0 { return .fixed(Int(-s)) }
        if case .fixed(let n)? = size { return .fixed(n - Int(s)) }
        return nil
    }

    private static func reshape(_ input: InferredShape, _ target: [Int]) throws -> InferredShape {
        guard target.filter({ $0 == -1 }).count <= 1 else { throw Problem(message: "reshape has more than one -1") }
        var out: InferredShape = []
        for (i, t) in target.enumerated() {
            switch t {
            case 0:
                guard i < input.count else { throw Problem(message: "reshape 0 at index \(i) beyond the input rank") }
                out.append(input[i])
            case -1: out.append(nil)
            case let n where n > 0 && n <= GraphLimits.maxDimension: out.append(.fixed(n))
            default: throw Problem(message: "reshape dimension \(t) is invalid")
            }
        }
        // Element counts must agree when everything is fixed; a -1 is inferred then.
        let fixedIn = input.map { d -> Int? in if case .fixed(let n)? = d { return n }; return nil }
        if fixedIn.allSatisfy({ $0 != nil }) {
            guard let total = GraphLimits.fixedElements(input), let known = GraphLimits.fixedElements(out) else {
                throw Problem(message: "reshape to \(target) has more than \(GraphLimits.maxElements) elements")
            }
            if let hole = out.firstIndex(where: { $0 == nil }) {
                guard known > 0, total % known == 0 else { throw Problem(message: "cannot reshape \(total) elements to \(target)") }
                out[hole] = .fixed(total / known)
            } else if total != known {
                throw Problem(message: "cannot reshape \(total) elements to \(target)")
            }
        }
        return out
    }
}

/// Slice bounds are integers or run-time symbols.
enum SliceAttribute {
    static func isBound(_ value: AttrValue) -> Bool {
        switch value {
        case .int, .symbol: return true
        default: return false
        }
    }
}
