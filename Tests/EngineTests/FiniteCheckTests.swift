@testable import Engine
import XCTest

/// The per-phase check: every position of a row (the SIMD body and the tail), every kind of
/// non-finite value, and finite extremes that must pass.
final class FiniteCheckTests: XCTestCase {
    func testFindsNaNAndInfinitiesAnywhere() {
        for count in [1, 7, 8, 9, 31, 32, 33, 64, 100] {
            for position in Set([0, count / 2, count - 1]) {
                for bad in [Float.nan, .infinity, -.infinity] {
                    var values = [Float](repeating: 1.5, count: count)
                    values[position] = bad
                    XCTAssertFalse(values.withUnsafeBufferPointer { FiniteCheck.allFinite($0.baseAddress!, count: count) },
                                   "\(bad) at \(position) of \(count)")
                }
            }
        }
    }

    func testFiniteExtremesPass() {
        let values: [Float] = [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, 0, -0.0,
                               .greatestFiniteMagnitude, .greatestFiniteMagnitude, .greatestFiniteMagnitude, 3]
        XCTAssertTrue(values.withUnsafeBufferPointer { FiniteCheck.allFinite($0.baseAddress!, count: values.count) })
        let empty: [Float] = [.nan]
        XCTAssertTrue(empty.withUnsafeBufferPointer { FiniteCheck.allFinite($0.baseAddress!, count: 0) }, "no elements: nothing to refuse")
    }
}
