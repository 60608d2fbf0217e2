import CCMFormat
import Engine
import Foundation

/// Deterministic pseudo-random numbers for reproducible test data (SplitMix64).
struct SeededRandom {
    private var source: SplitMix64
    init(seed: UInt64) { source = SplitMix64(seed: seed) }

    mutating func next() -> UInt64 { source.next() }

    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }

    /// Approximately normal (sum of uniforms), mean 0, standard deviation `sigma`.
    mutating func normal(_ sigma: Float) -> Float {
        var s: Float = 0
        for _ in 0..<4 { s += uniform(-1, 1) }
        return s * sigma * 0.8660254
    }

    mutating func int8(_ lo: Int8 = -127, _ hi: Int8 = 127) -> Int8 {
        Int8(Int(lo) + Int(next() % UInt64(Int(hi) - Int(lo) + 1)))
    }
}

/// Owns the memory behind test `WeightTensor`s (the engine's weights point into a model file).
final class TestBuffer: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer
    init(_ source: [UInt8]) {
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(source.count, 1), alignment: 64)
        bytes.copyBytes(from: source)
    }
    deinit { bytes.deallocate() }
}

enum TestWeights {
    static func floats(_ name: String, _ values: [Float], shape: [Int]) -> WeightTensor {
        let buffer = TestBuffer(values.withUnsafeBytes { Array($0) })
        return WeightTensor(name: name, dtype: .f32, shape: Shape(shape),
                            bytes: UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<(values.count * 4)]), owner: buffer)
    }

    static func int8(_ name: String, _ values: [Int8], shape: [Int]) -> WeightTensor {
        let buffer = TestBuffer(values.map { UInt8(bitPattern: $0) })
        return WeightTensor(name: name, dtype: .i8, shape: Shape(shape),
                            bytes: UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<values.count]), owner: buffer)
    }
}

/// Pools live for the whole test run: Engine's ThreadPool workers hold `unowned self`, so a pool
/// destroyed right after creation can crash a worker that has not started yet.
enum TestPools {
    static let one = ThreadPool(threads: 1)
    static let two = ThreadPool(threads: 2)
}

/// Runs one kernel on `x` with a fresh context, returning the output values.
func runKernel(_ kernel: any Kernel, x: [Float], xShape: [Int], outShape: [Int], threads: Int = 2,
               pool: ThreadPool? = nil) throws -> [Float] {
    var input = x
    var output = [Float](repeating: .nan, count: outShape.reduce(1, *))
    let context = ExecutionContext(pool: pool ?? (threads == 1 ? TestPools.one : TestPools.two))
    try input.withUnsafeMutableBytes { xb in
        try output.withUnsafeMutableBytes { ob in
            let xv = TensorView(data: xb.baseAddress!, shape: Shape(xShape), dtype: .f32)
            let ov = TensorView(data: ob.baseAddress!, shape: Shape(outShape), dtype: .f32)
            try kernel.run(inputs: [xv], outputs: [ov], context: context)
        }
    }
    return output
}

/// A `linear_i8` request over given constants.
func linearI8Request(w: WeightTensor, scales: WeightTensor, bias: WeightTensor?, scheme: String, block: Int,
                     activation: String) -> KernelRequest {
    var attrs: [String: AttrValue] = ["scheme": .string(scheme), "activation": .string(activation)]
    if scheme == "block" { attrs["block"] = .int(Int64(block)) }
    let inputs = ["x", w.name, scales.name] + (bias.map { [$0.name] } ?? [])
    let node = GraphNode(name: "fc", op: "linear_i8", inputs: inputs, outputs: ["y"], attrs: attrs)
    return KernelRequest(node: node, inputTypes: [.f32, .i8, .f32] + (bias == nil ? [] : [.f32]),
                         constants: [nil, w, scales] + (bias == nil ? [] : [bias]))
}
