import CCMFormat
import ClipCap
@testable import Engine
import Foundation
import Ops
import XCTest

/// A backend that is registered but cannot run here (like `blas` linked against a BLAS that is
/// not OpenBLAS): a chain skips it.
private final class UnavailableBackend: Backend {
    let name: String
    let summary = "test: never available"
    init(name: String) { self.name = name }
    var availability: (available: Bool, reason: String) { (false, "test stub") }
    let kernels = KernelTable([])
}

/// The backend chain (docs/BACKENDS.md): capability lists are the dispatch tables, chains resolve
/// int8 -> blas -> naive, and each node of a graph runs on the first backend that supports it.
final class BackendChainTests: XCTestCase {
    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models").path

    override func setUp() { ClipCap.registerStandardBackends() }

    func standard() throws -> [any Backend] {
        try ["naive", "blas", "int8"].map { try XCTUnwrap(BackendRegistry.shared.backend(named: $0), $0) }
    }

    func open(_ name: String) throws -> ModelFile {
        let path = Self.models + "/" + name
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) not present") }
        return try ModelFile.open(path: path)
    }

    /// Each capability list is its dispatch table's keys, each op once, each a known operator;
    /// the reference runs every operator of the op table.
    func testCapabilityListsAreTheDispatchTables() throws {
        for b in try standard() {
            let ops = b.capabilities.map(\.op)
            XCTAssertEqual(ops, b.kernels.ops, b.name)
            XCTAssertEqual(Set(ops).count, ops.count, "\(b.name) lists an op twice")
            XCTAssertTrue(Set(ops).isSubset(of: Set(OpTable.names)), "\(b.name): \(Set(ops).subtracting(OpTable.names)) are not in the op table")
            for op in OpTable.names { XCTAssertEqual(b.kernels.contains(op), ops.contains(op), "\(b.name) \(op)") }
        }
        XCTAssertEqual(Set(try standard()[0].capabilities.map(\.op)), Set(OpTable.names), "naive runs every operator")
    }

    /// What a backend lists is what it builds: over every node of the demo models, a backend
    /// that lists the node's op with the node's weight type returns a kernel, and a backend
    /// that does not list the op returns none.
    func testCapabilitiesMatchWhatTheKernelsAccept() throws {
        var checked = 0
        for name in ["demo.ccm", "demo-int8.ccm"] {
            let file = try open(name)
            let weights = WeightCache(file: file)
            for graph in file.graphs {
                var types: [String: DType] = [:]
                for spec in graph.inputs + graph.states { types[spec.name] = spec.dtype }
                for node in graph.nodes {
                    var constants: [WeightTensor?] = []
                    var inputTypes: [DType?] = []
                    for input in node.inputs {
                        if input.isEmpty { constants.append(nil); inputTypes.append(nil); continue }
                        let w = types[input] == nil ? try weights.weight(named: input) : nil
                        constants.append(w)
                        inputTypes.append(w?.dtype ?? types[input] ?? .f32)
                    }
                    for o in node.outputs { types[o] = OpTable.definition(node.op)?.movesData == true ? inputTypes.first ?? .f32 : .f32 }
                    let request = KernelRequest(node: node, inputTypes: inputTypes, constants: constants)
                    // The weight operand a capability's types are about: the largest constant.
                    let weight = constants.compactMap { $0 }.max { $0.shape.elementCount < $1.shape.elementCount }
                    for b in try standard() {
                        let kernel = try b.makeKernel(for: request)
                        guard let capability = b.capabilities.first(where: { $0.op == node.op }) else {
                            XCTAssertNil(kernel, "\(b.name) does not list \(node.op) but built a kernel for \(node.name)")
                            continue
                        }
                        if let weight, !capability.weightTypes.isEmpty, !capability.weightTypes.contains(weight.dtype) { continue }
                        XCTAssertNotNil(kernel, "\(b.name) lists \(node.op) (\(capability.weightTypes)) but declined \(graph.name)/\(node.name)")
                        checked += 1
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, 100)
    }

    /// The standard chains, and a chain skipping a backend that cannot run on this machine.
    func testChainsResolveInOrderSkippingUnavailableBackends() throws {
        let registry = BackendRegistry.shared
        for (start, chain) in [("int8", ["int8", "blas", "naive"]), ("blas", ["blas", "naive"]), ("naive", ["naive"])] {
            XCTAssertEqual(BackendChain.resolve(from: try XCTUnwrap(registry.backend(named: start)), registry: registry).names, chain)
        }
        let local = BackendRegistry()
        let (naive, int8) = (try XCTUnwrap(registry.backend(named: "naive")), try XCTUnwrap(registry.backend(named: "int8")))
        local.register(naive)
        local.register(UnavailableBackend(name: "blas"))
        local.register(int8)
        XCTAssertEqual(BackendChain.resolve(from: int8, registry: local).names, ["int8", "naive"])
    }

    /// A graph mixing int8 products with float operators that, on a chain without blas, only
    /// naive runs: each node reports the backend that runs it, and the graph computes what the
    /// full chain (float ops on blas) computes.
    func testEachNodeRunsOnTheFirstBackendThatSupportsIt() throws {
        let file = try open("demo-int8.ccm")
        let graph = try XCTUnwrap(file.graph(named: "image_encoder"))
        let registry = BackendRegistry.shared
        let int8 = try XCTUnwrap(registry.backend(named: "int8")), naive = try XCTUnwrap(registry.backend(named: "naive"))
        let symbols = SymbolBindings(B: 1, T: 1, nPast: 0, maxCtx: 1)
        let mixed = try CompiledGraph(graph: graph, file: file, weights: WeightCache(file: file),
                                      chain: BackendChain([int8, naive]), worstCase: symbols)
        let full = try CompiledGraph(graph: graph, file: file, weights: WeightCache(file: file),
                                     chain: BackendChain.resolve(from: int8, registry: registry), worstCase: symbols)
        var seen: [String: Set<String>] = [:]
        for (m, f) in zip(mixed.nodes, full.nodes) {
            seen[m.node.op, default: []].insert(m.backendName)
            switch m.node.op {
            case "linear_i8":
                XCTAssertEqual([m.backendName, f.backendName], ["int8", "int8"], m.node.name)
                XCTAssertFalse(m.isFallback)
            case "reshape":
                XCTAssertEqual(m.backendName, "-")
            default:
                XCTAssertEqual([m.backendName, f.backendName], ["naive", "blas"], m.node.name)
                XCTAssertTrue(m.isFallback && f.isFallback)
                XCTAssertTrue(mixed.runsOnReference(m))
                XCTAssertFalse(full.runsOnReference(f), "blas is not the reference")
            }
        }
        XCTAssertTrue(seen.keys.contains("layer_norm") && seen.keys.contains("attention"), "\(seen)")
        // The warning's measure: only what falls through to naive counts.
        XCTAssertGreaterThan(FallbackShare.measure([mixed], file: file).nodes, 0.3)
        XCTAssertEqual(FallbackShare.measure([full], file: file).nodes, 0)

        let outputs = try [mixed, full].map { compiled -> [Float] in
            let runner = try GraphRunner(graph: compiled)
            let shape = try MemoryPlanner.resolve(graph.inputs[0].shape, symbols)
            let input = try runner.inputBuffer(0, shape: shape).assumingMemoryBound(to: Float.self)
            for i in 0..<shape.elementCount { input[i] = Float((i * 7919) % 255) / 255 - 0.5 }
            try runner.run(symbols: symbols, context: ExecutionContext(pool: ThreadPool(threads: 1)), profiler: nil)
            let out = runner.output(0)
            return Array(UnsafeBufferPointer(start: out.floats, count: out.elementCount))
        }
        // The int8 products quantize their input rows, so the last-digit differences of naive and
        // blas float ops move a value by a quantization step now and then: compare as vectors.
        XCTAssertEqual(outputs[0].count, outputs[1].count)
        let dot = zip(outputs[0], outputs[1]).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let norms = outputs.map { v in v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
        XCTAssertGreaterThan(dot / (norms[0] * norms[1]), 0.9995)
        let scale = outputs[1].map { abs($0) }.max() ?? 1
        for (a, b) in zip(outputs[0], outputs[1]) { XCTAssertEqual(a, b, accuracy: 0.03 * max(scale, 1)) }
    }

    /// The model reports the chain and, per op, the backend that runs it.
    func testModelReportsTheBackendOfEachOp() throws {
        let path = Self.models + "/demo-int8.ccm"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) not present") }
        let model = try CaptionModel.load(path: path, options: LoadOptions(backend: "int8", threads: 1))
        XCTAssertEqual(model.chain.names, ["int8", "blas", "naive"])
        let rows = model.kernelAssignment
        XCTAssertTrue(rows.contains { $0.op == "linear_i8" && $0.backend == "int8" && !$0.fallback })
        XCTAssertTrue(rows.contains { $0.op == "layer_norm" && $0.backend == "blas" && $0.fallback })
        XCTAssertFalse(rows.contains { $0.backend == "naive" }, "\(rows)")
        XCTAssertNil(model.fallbackWarning)
        let onBLAS = try CaptionModel.load(path: path, options: LoadOptions(backend: "blas", threads: 1))
        XCTAssertTrue(onBLAS.kernelAssignment.contains { $0.op == "linear_i8" && $0.backend == "naive" })
        XCTAssertTrue(try XCTUnwrap(onBLAS.fallbackWarning).contains("'naive'"))
    }
}
