import CCMFormat

/// The attributes of a `conv2d` node (docs/OPS.md) and the output size they give, parsed the
/// same way by shape inference and by every backend's kernel. Square strides and paddings, one
/// group: the convolutions of CLIP's ModifiedResNet.
public struct Conv2dGeometry: Sendable, Equatable {
    public let outChannels: Int
    public let inChannels: Int
    public let kernelHeight: Int
    public let kernelWidth: Int
    public let stride: Int
    public let padding: Int

    /// Reads `stride` (default 1) and `padding` (default 0) from `attrs` and the kernel size
    /// from the weight's shape `[O, C, kh, kw]`. The error text names what is wrong.
    public init(attrs: [String: AttrValue], weightShape: [Int]) throws(SpatialAttributeError) {
        guard weightShape.count == 4, weightShape.allSatisfy({ $0 > 0 }) else {
            throw SpatialAttributeError("conv2d needs a weight [out_channels, in_channels, kh, kw] with every dimension > 0, got \(weightShape)")
        }
        outChannels = weightShape[0]
        inChannels = weightShape[1]
        kernelHeight = weightShape[2]
        kernelWidth = weightShape[3]
        stride = try Self.int(attrs, "stride", default: 1, minimum: 1)
        padding = try Self.int(attrs, "padding", default: 0, minimum: 0)
        guard padding < max(kernelHeight, kernelWidth) else {
            throw SpatialAttributeError("conv2d padding \(padding) must be smaller than the kernel \(kernelHeight)x\(kernelWidth)")
        }
    }

    /// The geometry of a `conv2d_i8` node: its int8 weight is `[O, C·kh·kw]` (a `conv2d` weight
    /// flattened per output channel, as the quantizer stores it) and `kernel` = `[kh, kw]`.
    public init(quantizedAttrs attrs: [String: AttrValue], weightShape: [Int]) throws(SpatialAttributeError) {
        guard case .ints(let kernel)? = attrs["kernel"], kernel.count == 2, kernel.allSatisfy({ $0 > 0 && $0 <= 1 << 10 }) else {
            throw SpatialAttributeError("conv2d_i8 needs 'kernel' = [kh, kw] (positive integers)")
        }
        let area = Int(kernel[0] * kernel[1])
        guard weightShape.count == 2, weightShape[1] > 0, weightShape[1] % area == 0 else {
            throw SpatialAttributeError("conv2d_i8 needs an int8 weight [out_channels, in_channels·\(kernel[0])·\(kernel[1])], got \(weightShape)")
        }
        try self.init(attrs: attrs, weightShape: [weightShape[0], weightShape[1] / area, Int(kernel[0]), Int(kernel[1])])
    }

    /// Output height and width for an input of `height` x `width`; `nil` when the padded input
    /// is smaller than the kernel.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int)? {
        let h = height + 2 * padding - kernelHeight, w = width + 2 * padding - kernelWidth
        guard h >= 0, w >= 0 else { return nil }
        return (h / stride + 1, w / stride + 1)
    }

    /// Multiply-adds per output element (`C·kh·kw`).
    public var reduction: Int { inChannels * kernelHeight * kernelWidth }

    static func int(_ attrs: [String: AttrValue], _ key: String, default value: Int, minimum: Int) throws(SpatialAttributeError) -> Int {
        guard let attr = attrs[key] else { return value }
        guard case .int(let v) = attr, v >= minimum, v <= 1 << 20 else {
            throw SpatialAttributeError("attribute '\(key)' must be an integer >= \(minimum), got \(attr)")
        }
        return Int(v)
    }
}

/// The attributes of an `avg_pool2d` node: a `kernel` x `kernel` window moved by `stride`
/// (default: the kernel), no padding, the last partial window dropped (PyTorch's
/// `nn.AvgPool2d(k)` with `ceil_mode=False`).
public struct Pool2dGeometry: Sendable, Equatable {
    public let kernel: Int
    public let stride: Int

    public init(attrs: [String: AttrValue]) throws(SpatialAttributeError) {
        guard attrs["kernel"] != nil else { throw SpatialAttributeError("avg_pool2d needs an integer attribute 'kernel'") }
        kernel = try Conv2dGeometry.int(attrs, "kernel", default: 1, minimum: 1)
        stride = try Conv2dGeometry.int(attrs, "stride", default: kernel, minimum: 1)
    }

    /// Output height and width; `nil` when the input is smaller than the window.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int)? {
        guard height >= kernel, width >= kernel else { return nil }
        return ((height - kernel) / stride + 1, (width - kernel) / stride + 1)
    }
}

/// Why a spatial operator's attributes or shapes are not usable.
public struct SpatialAttributeError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Output shapes of the spatial operators for run-time shape inference and kernels.
public enum SpatialShapes {
    /// `x [B, C, H, W]` convolved: `[B, O, H', W']`.
    public static func conv2d(_ x: Shape, _ g: Conv2dGeometry) throws(SpatialAttributeError) -> Shape {
        guard x.rank == 4 else { throw SpatialAttributeError("conv2d needs x [B, C, H, W], got \(x)") }
        guard x[1] == g.inChannels else {
            throw SpatialAttributeError("conv2d: x has \(x[1]) channels but the weight expects \(g.inChannels)")
        }
        guard let (h, w) = g.outputSize(height: x[2], width: x[3]) else {
            throw SpatialAttributeError("conv2d: input \(x[2])x\(x[3]) padded by \(g.padding) is smaller than the kernel \(g.kernelHeight)x\(g.kernelWidth)")
        }
        return Shape(x[0], g.outChannels, h, w)
    }

    /// `x [B, C, H, W]` pooled: `[B, C, H', W']`.
    public static func avgPool2d(_ x: Shape, _ g: Pool2dGeometry) throws(SpatialAttributeError) -> Shape {
        guard x.rank == 4 else { throw SpatialAttributeError("avg_pool2d needs x [B, C, H, W], got \(x)") }
        guard let (h, w) = g.outputSize(height: x[2], width: x[3]) else {
            throw SpatialAttributeError("avg_pool2d: input \(x[2])x\(x[3]) is smaller than the window \(g.kernel)")
        }
        return Shape(x[0], x[1], h, w)
    }
}
