import ArgumentParser
import ClipCap
import Foundation

/// `clipcapctl backends`: what backends exist, what each dispatches, the chain each falls back
/// along, and (with `--model`) which backend runs each op of a model.
struct BackendsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backends",
        abstract: "List the available backends, the operators and weight types each runs, and the chain each falls back along.",
        discussion: "Each node runs on the first backend of the chain (e.g. int8 -> blas -> naive) that runs its op with its weight types. With --model, the model is loaded (without the CRC check) and the backend of each op is listed per graph, with counts.")

    @Option(name: .long, help: "A model file (.ccm): show which backend runs each of its ops.")
    var model: String?

    @Option(name: .long, help: "With --model: the backend to resolve the chain from (auto, naive, blas, int8).")
    var backend: String = "auto"

    @Flag(name: .long, help: "Machine-readable output.")
    var json = false

    func run() throws {
        ClipCap.registerStandardBackends()
        let registry = BackendRegistry.shared
        let backends = registry.all
        let loaded = try model.map { try ModelLoading.load($0, options: LoadOptions(backend: backend, threads: 1, verifyChecksums: false)) }
        if json {
            var object: [String: Any] = ["backends": backends.map { b -> [String: Any] in
                ["name": b.name, "summary": b.summary, "available": b.availability.available,
                 "reason": b.availability.reason,
                 "chain": BackendChain.resolve(from: b, registry: registry).names,
                 "ops": b.capabilities.map { ["op": $0.op, "weight_types": $0.weightTypes.map(\.description), "note": $0.note] }]
            }]
            if let loaded {
                object["model"] = ["path": loaded.path, "backend": loaded.backend.name, "chain": loaded.chain.names,
                                   "ops": ModelLoading.kernelAssignmentJSON(loaded)] as [String: Any]
            }
            print(jsonLine(object))
            return
        }
        if let loaded {
            print("\(loaded.path): backend \(loaded.backend.name), chain \(loaded.chain.names.joined(separator: " -> "))")
            for line in ModelLoading.assignmentLines(loaded) { print(line) }
            return
        }
        for b in backends {
            let status = b.availability.available ? "available" : "unavailable: \(b.availability.reason)"
            print("\(b.name) — \(b.summary) [\(status)]")
            print("  chain: \(BackendChain.resolve(from: b, registry: registry).names.joined(separator: " -> "))")
            for cap in b.capabilities {
                let types = cap.weightTypes.isEmpty ? "" : " (weights: \(cap.weightTypes.map(\.description).joined(separator: ", ")))"
                let note = cap.note.isEmpty ? "" : " — \(cap.note)"
                print("  \(cap.op)\(types)\(note)")
            }
            print("")
        }
        print("A node runs on the first backend of its chain that runs its op; `backends --model M.ccm`, `caption --verbose` and `profile --verbose` show which, per op.")
    }
}
