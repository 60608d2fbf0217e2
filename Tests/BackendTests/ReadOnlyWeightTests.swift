import BLASBackend
import CCMFormat
import Engine
import Foundation
import NaiveBackend
import XCTest

/// Weights reach kernels read-only (docs/BACKENDS.md, "Weights are read-only"): a weight's view
/// carries no writable memory, and a kernel asked to write a read-only view (a KV cache or an
/// output given as a weight) reports an error naming the node instead of writing the map.
final class ReadOnlyWeightTests: XCTestCase {
    let backends: [any Backend] = [NaiveBackend(), BLASBackend()]

    func testWeightViewsHaveNoWritableMemory() {
        let w = Harness.weight([1, 2, 3, 4], [2, 2])
        XCTAssertNil(w.view.mutableData)
        XCTAssertNil(w.view.mutableFloats)
        XCTAssertEqual(w.view.floats[3], 4)
        let b = TestBuffer(floats: [1, 2])
        XCTAssertNotNil(TensorView(data: b.raw, shape: Shape(2), dtype: .f32).mutableFloats)
    }

    func testWritingAReadOnlyCacheIsAnErrorNotAWrite() throws {
        let batch = 1, d = 4, capacity = 3
        let cache = TestBuffer(floats: [Float](repeating: 7, count: batch * capacity * d))
        let x = TestBuffer(floats: [Float](repeating: 1, count: batch * d))
        for backend in backends {
            let request = Harness.request("attention_cached", [.activation([], []), .activation([], []), .activation([], []),
                                                               .state(cache, []), .state(cache, [])], attrs: ["heads": .int(1)])
            let kernel = try XCTUnwrap(try backend.makeKernel(for: request), backend.name)
            let act = TensorView(data: x.raw, shape: Shape(batch, 1, d), dtype: .f32)
            let readOnlyCache = TensorView(readOnly: UnsafeRawPointer(cache.raw), shape: Shape(batch, capacity, d), dtype: .f32)
            let out = TestBuffer(floats: [Float](repeating: 0, count: batch * d))
            XCTAssertThrowsError(try kernel.run(inputs: [act, act, act, readOnlyCache, readOnlyCache],
                                                outputs: [TensorView(data: out.raw, shape: Shape(batch, 1, d), dtype: .f32)],
                                                context: Harness.makeContext(n_past: 0)), backend.name) { error in
                XCTAssertTrue("\(error)".contains("read-only"), "\(backend.name): \(error)")
            }
            XCTAssertEqual(cache.floats, [Float](repeating: 7, count: batch * capacity * d), "\(backend.name) wrote a read-only view")
        }
    }

    func testAReadOnlyOutputIsAnError() throws {
        let w = Harness.weight([1, 0, 0, 1], [2, 2])
        let x = TestBuffer(floats: [3, 4])
        let target = Harness.weight([0, 0], [1, 2], name: "target")
        for backend in backends {
            let kernel = try XCTUnwrap(try backend.makeKernel(for: Harness.request("linear", [.activation([], []), .weight(w)])))
            XCTAssertThrowsError(try kernel.run(inputs: [TensorView(data: x.raw, shape: Shape(1, 2), dtype: .f32), w.view],
                                                outputs: [target.view], context: Harness.makeContext()), backend.name)
            XCTAssertEqual(target.floatValues(), [0, 0], backend.name)
        }
    }
}
