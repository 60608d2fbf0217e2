import CCMFormat
import Engine
import Foundation
import XCTest

/// Memory for one test tensor, owned by the test (freed on deinit).
final class TestBuffer: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int) {
        self.byteCount = byteCount
        raw = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 4), alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 4))
    }

    convenience init(floats: [Float]) {
        self.init(byteCount: floats.count * 4)
        floats.withUnsafeBytes { raw.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    var floats: [Float] {
        Array(UnsafeBufferPointer(start: raw.assumingMemoryBound(to: Float.self), count: byteCount / 4))
    }

    deinit { raw.deallocate() }
}

/// One input of a kernel under test.
enum Operand {
    /// An f32 activation.
    case activation([Float], [Int])
    /// Token ids.
    case ids([Int32], [Int])
    /// A tensor of the model file.
    case weight(WeightTensor)
    /// A writable state (KV cache), kept by the test between calls.
    case state(TestBuffer, [Int])
    /// An absent optional input.
    case absent
}

/// Builds requests, weights and views, and runs kernels the way the executor does.
enum Harness {
    /// A WeightTensor holding `values` stored as `dtype` (f32, f16 or bf16 — bf16 rounds to nearest even).
    static func weight(_ values: [Float], _ shape: [Int], dtype: DType = .f32, name: String = "w") -> WeightTensor {
        let buffer = TestBuffer(byteCount: values.count * dtype.size)
        for (i, v) in values.enumerated() {
            switch dtype {
            case .f32: buffer.raw.storeBytes(of: v, toByteOffset: i * 4, as: Float.self)
            case .f16: buffer.raw.storeBytes(of: Float16(v).bitPattern, toByteOffset: i * 2, as: UInt16.self)
            case .bf16: buffer.raw.storeBytes(of: bf16Bits(v), toByteOffset: i * 2, as: UInt16.self)
            default: fatalError("test weights are float")
            }
        }
        return WeightTensor(name: name, dtype: dtype, shape: Shape(shape),
                            bytes: UnsafeRawBufferPointer(start: buffer.raw, count: buffer.byteCount), owner: buffer)
    }

    /// An int8 weight [N, K] with its scales tensor.
    static func int8Weight(_ values: [Int8], _ shape: [Int], scales: [Float], scalesShape: [Int],
                           scheme: String, block: Int = 0) -> (WeightTensor, WeightTensor) {
        let s = weight(scales, scalesShape, name: "w.scales")
        let buffer = TestBuffer(byteCount: values.count)
        for (i, v) in values.enumerated() { buffer.raw.storeBytes(of: v, toByteOffset: i, as: Int8.self) }
        let w = WeightTensor(name: "w", dtype: .i8, shape: Shape(shape),
                             bytes: UnsafeRawBufferPointer(start: buffer.raw, count: values.count),
                             quantization: QuantizationInfo(scheme: scheme, scalesTensor: "w.scales", axis: 0, blockSize: block),
                             scales: s, owner: buffer)
        return (w, s)
    }

    static func bf16Bits(_ v: Float) -> UInt16 {
        let bits = v.bitPattern
        let rounded = bits &+ 0x7fff &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// The f32 values a weight holds (what the kernels should see after widening).
    static func widened(_ w: WeightTensor) -> [Float] { w.floatValues() }

    static func request(_ op: String, _ operands: [Operand], attrs: [String: AttrValue] = [:]) -> KernelRequest {
        var names: [String] = []
        var types: [DType?] = []
        var constants: [WeightTensor?] = []
        for (i, o) in operands.enumerated() {
            switch o {
            case .activation: names.append("in\(i)"); types.append(.f32); constants.append(nil)
            case .ids: names.append("in\(i)"); types.append(.i32); constants.append(nil)
            case .weight(let w): names.append(w.name); types.append(w.dtype); constants.append(w)
            case .state: names.append("state\(i)"); types.append(.f32); constants.append(nil)
            case .absent: names.append(""); types.append(nil); constants.append(nil)
            }
        }
        let node = GraphNode(name: "test_\(op)", op: op, inputs: names, outputs: ["out"], attrs: attrs)
        return KernelRequest(node: node, inputTypes: types, constants: constants)
    }

    /// Builds the kernel (failing the test when the backend declines) and runs it once.
    static func run(_ backend: any Backend, _ op: String, _ operands: [Operand], attrs: [String: AttrValue] = [:],
                    outputShape: [Int], context: ExecutionContext = makeContext(),
                    file: StaticString = #filePath, line: UInt = #line) throws -> [Float] {
        guard let kernel = try backend.makeKernel(for: request(op, operands, attrs: attrs)) else {
            XCTFail("\(backend.name) has no kernel for \(op)", file: file, line: line)
            return []
        }
        return try run(kernel, operands, outputShape: outputShape, context: context)
    }

    /// Runs a prepared kernel once on fresh input copies; returns the output.
    static func run(_ kernel: any Kernel, _ operands: [Operand], outputShape: [Int], context: ExecutionContext) throws -> [Float] {
        var keep: [TestBuffer] = []
        var views: [TensorView] = []
        for o in operands {
            switch o {
            case .activation(let values, let shape):
                let b = TestBuffer(floats: values)
                keep.append(b)
                views.append(TensorView(data: b.raw, shape: Shape(shape), dtype: .f32))
            case .ids(let ids, let shape):
                let b = TestBuffer(byteCount: ids.count * 4)
                for (i, v) in ids.enumerated() { b.raw.storeBytes(of: v, toByteOffset: i * 4, as: Int32.self) }
                keep.append(b)
                views.append(TensorView(data: b.raw, shape: Shape(shape), dtype: .i32))
            case .weight(let w):
                views.append(w.view)
            case .state(let b, let shape):
                views.append(TensorView(data: b.raw, shape: Shape(shape), dtype: .f32))
            case .absent:
                views.append(TensorView(data: UnsafeMutableRawPointer(bitPattern: 64)!, shape: Shape(0), dtype: .f32))
            }
        }
        let count = Shape(outputShape).elementCount
        let out = TestBuffer(floats: [Float](repeating: .nan, count: count))
        try kernel.run(inputs: views, outputs: [TensorView(data: out.raw, shape: Shape(outputShape), dtype: .f32)],
                       context: context)
        withExtendedLifetime(keep) {}
        return out.floats
    }

    static func makeContext(n_past: Int? = nil, symbols: [String: Int] = [:]) -> ExecutionContext {
        let context = ExecutionContext(pool: sharedPool)
        if let n_past { context.bind("n_past", n_past) }
        for (k, v) in symbols { context.bind(k, v) }
        return context
    }

    /// One 2-thread pool for every test (threads are not cheap to create per test).
    static let sharedPool = ThreadPool(threads: 2)
}

/// A seeded generator (SplitMix64) so failures reproduce.
struct SeededRandom: RandomNumberGenerator {
    private var source: SplitMix64
    init(seed: UInt64) { source = SplitMix64(seed: seed) }
    mutating func next() -> UInt64 { source.next() }

    mutating func floats(_ count: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<count).map { _ in Float.random(in: range, using: &self) }
    }
}

/// Asserts `actual` matches `expected` element-wise: |a - e| <= tolerance · max(1, max|expected|).
func assertClose(_ actual: [Float], _ expected: [Float], tolerance: Float, _ message: @autoclosure () -> String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "element count; \(message())", file: file, line: line)
    guard actual.count == expected.count else { return }
    let magnitude = max(1, expected.map { abs($0) }.max() ?? 0)
    var worst: Float = 0, worstIndex = 0
    for i in 0..<actual.count {
        let d = abs(actual[i] - expected[i])
        if !(d <= worst) { worst = d.isNaN ? .infinity : d; worstIndex = i }
    }
    XCTAssert(worst <= tolerance * magnitude,
              "max error \(worst) at \(worstIndex) (\(actual[worstIndex]) vs \(expected[worstIndex])) > \(tolerance) x \(magnitude); \(message())",
              file: file, line: line)
}

/// Asserts building or running throws a `KernelError` naming the node.
func assertKernelError(_ body: () throws -> Void, _ fragment: String = "", file: StaticString = #filePath, line: UInt = #line) {
    do {
        try body()
        XCTFail("expected a KernelError", file: file, line: line)
    } catch let error as KernelError {
        XCTAssert(error.message.contains("test_"), "error does not name the node: \(error.message)", file: file, line: line)
        if !fragment.isEmpty {
            XCTAssert(error.message.contains(fragment), "'\(error.message)' does not mention '\(fragment)'", file: file, line: line)
        }
    } catch {
        XCTFail("expected a KernelError, got \(error)", file: file, line: line)
    }
}
