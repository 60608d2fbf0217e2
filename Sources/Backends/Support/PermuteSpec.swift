import CCMFormat
import Engine

/// `permute`'s `perm` attribute, read and checked once at kernel creation, and the output shape
/// rule its kernels apply per call: one definition for every backend's permute kernel (they
/// differ only in how they walk the elements).
public struct PermuteSpec: Sendable {
    /// `out.shape[i] = x.shape[perm[i]]`.
    public let perm: Shape

    /// Reads `perm`; an error naming the node when it is missing or not a permutation.
    public init(_ request: KernelRequest, _ label: NodeLabel) throws {
        guard let perm = request.ints("perm") else { throw label.error("needs a 'perm' attribute (integers)") }
        try ShapeChecks.validatePermutation(perm, label)
        self.perm = Shape(perm)
    }

    /// The output shape for an input of shape `input`; an error naming the node when the ranks differ.
    public func outputShape(for input: Shape, _ label: NodeLabel) throws -> Shape {
        guard input.rank == perm.rank else { throw label.error("perm \(perm) has rank \(perm.rank) but x is \(input)") }
        return ShapeChecks.permuted(input, perm)
    }
}
