import ArgumentParser
import ClipCap
import Foundation

/// `clipcapctl backends`: what backends exist and what each supports.
struct BackendsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backends",
        abstract: "List the available backends and the operators and weight types each supports.")

    @Flag(name: .long, help: "Machine-readable output.")
    var json = false

    func run() throws {
        ClipCap.registerStandardBackends()
        let backends = BackendRegistry.shared.all
        if json {
            let list: [[String: Any]] = backends.map { b in
                ["name": b.name, "summary": b.summary, "available": b.availability.available,
                 "reason": b.availability.reason,
                 "ops": b.capabilities.map { ["op": $0.op, "weight_types": $0.weightTypes.map(\.description), "note": $0.note] }]
            }
            print(jsonLine(["backends": list]))
            return
        }
        for b in backends {
            let status = b.availability.available ? "available" : "unavailable: \(b.availability.reason)"
            print("\(b.name) — \(b.summary) [\(status)]")
            for cap in b.capabilities {
                let types = cap.weightTypes.isEmpty ? "" : " (weights: \(cap.weightTypes.map(\.description).joined(separator: ", ")))"
                let note = cap.note.isEmpty ? "" : " — \(cap.note)"
                print("  \(cap.op)\(types)\(note)")
            }
            print("")
        }
        print("Ops a backend lacks run on `naive`; `caption --verbose` and `profile` show where.")
    }
}
