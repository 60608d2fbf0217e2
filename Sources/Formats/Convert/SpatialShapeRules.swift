import CCMFormat

/// Static shape rules of the spatial operators `conv2d` and `avg_pool2d` (docs/OPS.md), kept
/// apart from `ShapeRules` so the shared op table can take them over whole.
enum SpatialShapeRules {
    typealias Problem = ShapeRules.Problem

    static let signatures: [String: OpSignature] = [
        "conv2d": OpSignature(minInputs: 2, maxInputs: 3, optionalInputs: [2]),
        "conv2d_i8": OpSignature(minInputs: 3, maxInputs: 4, optionalInputs: [3], requiredAttrs: ["scheme", "kernel"]),
        "avg_pool2d": OpSignature(minInputs: 1, maxInputs: 1, requiredAttrs: ["kernel"]),
    ]

    static func handles(_ op: String) -> Bool { signatures[op] != nil }

    static func infer(_ node: GraphNode, inputs: [ShapeRules.Input?]) throws -> InferredShape {
        guard let x = inputs.first ?? nil else { throw Problem(message: "input 0 is missing") }
        guard x.shape.count == 4 else { throw Problem(message: "\(node.op) needs x [B, C, H, W], is rank \(x.shape.count)") }
        if node.op == "avg_pool2d" {
            let kernel = try int(node, "kernel", default: 1, minimum: 1)
            let stride = try int(node, "stride", default: kernel, minimum: 1)
            return [x.shape[0], x.shape[1],
                    try pooled(x.shape[2], window: kernel, stride: stride, padding: 0),
                    try pooled(x.shape[3], window: kernel, stride: stride, padding: 0)]
        }
        guard inputs.count > 1, var w = inputs[1] else { throw Problem(message: "\(node.op) needs a weight as input 1") }
        if node.op == "conv2d_i8" {
            // The int8 weight is [O, C·kh·kw]; `kernel` = [kh, kw] restores the 4-D view.
            guard case .ints(let k)? = node.attrs["kernel"], k.count == 2, k.allSatisfy({ $0 > 0 }), w.shape.count == 2,
                  case .fixed(let flat)? = w.shape[1], flat % Int(k[0] * k[1]) == 0 else {
                throw Problem(message: "conv2d_i8 needs kernel [kh, kw] and an int8 weight [O, C·kh·kw]")
            }
            w.shape = [w.shape[0], .fixed(flat / Int(k[0] * k[1])), .fixed(Int(k[0])), .fixed(Int(k[1]))]
        }
        guard w.shape.count == 4, let out = w.shape[0], case .fixed(let kh)? = w.shape[2], case .fixed(let kw)? = w.shape[3] else {
            throw Problem(message: "conv2d weight must be [out_channels, in_channels, kh, kw] with known kernel size")
        }
        try ShapeRules.same(x.shape[1], w.shape[1], "x's channels and the weight's input channels")
        let biasIndex = node.op == "conv2d_i8" ? 3 : 2
        if inputs.count > biasIndex, let b = inputs[biasIndex] {
            guard b.shape.count == 1 else { throw Problem(message: "bias must be rank 1") }
            try ShapeRules.same(b.shape[0], out, "bias length and output channels")
        }
        if let act = node.attrs["activation"] {
            guard case .string(let a) = act, ["none", "relu"].contains(a) else { throw Problem(message: "conv2d activation must be none or relu, is \(act)") }
        }
        let stride = try int(node, "stride", default: 1, minimum: 1)
        let padding = try int(node, "padding", default: 0, minimum: 0)
        guard padding < max(kh, kw) else { throw Problem(message: "padding \(padding) must be smaller than the kernel \(kh)x\(kw)") }
        return [x.shape[0], out,
                try pooled(x.shape[2], window: kh, stride: stride, padding: padding),
                try pooled(x.shape[3], window: kw, stride: stride, padding: padding)]
    }

    /// `(size + 2·padding - window) / stride + 1`, or unknown when the size is not fixed.
    private static func pooled(_ size: Dim?, window: Int, stride: Int, padding: Int) throws -> Dim? {
        guard case .fixed(let n)? = size else { return nil }
        let span = n + 2 * padding - window
        guard span >= 0 else { throw Problem(message: "a spatial size of \(n) (padding \(padding)) is smaller than the window \(window)") }
        return .fixed(span / stride + 1)
    }

    private static func int(_ node: GraphNode, _ key: String, default value: Int, minimum: Int) throws -> Int {
        guard let attr = node.attrs[key] else { return value }
        guard case .int(let v) = attr, v >= minimum, v <= 1 << 20 else {
            throw Problem(message: "attribute '\(key)' must be an integer >= \(minimum), is \(attr)")
        }
        return Int(v)
    }
}
