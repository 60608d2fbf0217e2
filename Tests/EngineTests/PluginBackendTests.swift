import ClipCap
import Foundation
import XCTest

/// A backend defined only in the tests, registered like any plugin: it wraps `naive`, claims
/// only `linear` and `gather`, and counts kernel calls. Nothing in Sources/Engine knows it.
final class CountingBackend: Backend, @unchecked Sendable {
    let name = "counting"
    let summary = "test plugin: naive linear and gather, counted"
    private let inner: any Backend
    private let lock = NSLock()
    private var counts: [String: Int] = [:]

    init(wrapping inner: any Backend) { self.inner = inner }

    var kernels: KernelTable {
        ["linear", "gather"].map { op in
            KernelEntry(op, weightTypes: [.f32]) { [self] request in
                guard let kernel = try inner.makeKernel(for: request) else { return nil }
                return Counted(op: op, inner: kernel, owner: self)
            }
        }.table
    }

    func count(_ op: String) -> Int { lock.lock(); defer { lock.unlock() }; return counts[op, default: 0] }
    fileprivate func bump(_ op: String) { lock.lock(); counts[op, default: 0] += 1; lock.unlock() }

    struct Counted: Kernel {
        let op: String
        let inner: any Kernel
        let owner: CountingBackend
        func run(inputs: [TensorView], outputs: [TensorView], context: ExecutionContext) throws {
            owner.bump(op)
            try inner.run(inputs: inputs, outputs: outputs, context: context)
        }
    }
}

final class PluginBackendTests: XCTestCase {
    func testPluginBackendRunsAndOthersFallBackVisibly() throws {
        ClipCap.registerStandardBackends()
        let counting = CountingBackend(wrapping: try XCTUnwrap(BackendRegistry.shared.backend(named: "naive")))
        BackendRegistry.shared.register(counting)
        let dir = TinyModel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try TinyModel.write(to: dir + "/tiny.ccm")

        let model = try CaptionModel.load(path: path, options: LoadOptions(backend: "counting", threads: 1))
        let reference = try CaptionModel.load(path: path, options: LoadOptions(backend: "naive", threads: 1))
        let image = RGBImage(width: 40, height: 36, pixels: TinyModel.pixels())
        let result = try model.caption(image: image, options: DecodingOptions(maxTokens: 6))
        XCTAssertEqual(result.captions, try reference.caption(image: image, options: DecodingOptions(maxTokens: 6)).captions)

        // Linear: 1 (encoder) + 1 (mapper) + 5 per decoder run; gather once per decode step.
        let decoderRuns = 1 + result.timings.decodeSteps
        XCTAssertEqual(counting.count("linear"), 2 + 5 * decoderRuns)
        XCTAssertEqual(counting.count("gather"), result.timings.decodeSteps)
        // Everything else ran on naive, and the model says so.
        let fallbackOps = Set(model.fallbacks.map(\.op))
        XCTAssertTrue(fallbackOps.isSuperset(of: ["layer_norm", "attention_cached", "add", "slice"]), "\(fallbackOps)")
        XCTAssertFalse(fallbackOps.contains("linear"))
        XCTAssertTrue(model.fallbacks.allSatisfy { $0.backend == "naive" })
        XCTAssertEqual(model.chain.names, ["counting", "naive"])
    }
}
