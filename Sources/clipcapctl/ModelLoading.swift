import ArgumentParser
import ClipCap
import Foundation

/// `--threads`, checked and clamped the same way by every command that loads a model.
enum ThreadCount {
    static var cores: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Rejects counts below one, naming the option (`--threads 0` used to mean one silently).
    static func validate(_ threads: Int?, option: String = "--threads") throws {
        if let threads, threads < 1 {
            throw ValidationError("\(option) must be at least 1 (got \(threads)); leave it out to use every core (\(cores))")
        }
    }

    /// The count to use: as asked, but no more than the cores (more threads than cores only
    /// take turns on them), with a note on stderr when clamped. Default: every core.
    static func resolve(_ threads: Int?, option: String = "--threads") -> Int {
        guard let threads else { return cores }
        if threads > cores {
            printError("note: \(option) \(threads) is more than the \(cores) core(s) of this machine; using \(cores)")
            return cores
        }
        return threads
    }
}

/// Loading a model the way every command does: the options as given (the backend `auto` by
/// default), then a one-line warning on stderr when much of the work falls back to a slower
/// backend.
enum ModelLoading {
    static func load(_ path: String, options: LoadOptions) throws -> CaptionModel {
        let model = try ClipCap.loadModel(path: path, options: options)
        if let warning = model.fallbackWarning { printError(warning) }
        return model
    }

    /// `--verbose`: the backend chain, then per graph which backend runs each op, with counts, on stderr.
    static func reportKernels(_ model: CaptionModel) {
        printError("backend \(model.backend.name) (chain \(model.chain.names.joined(separator: " -> "))), \(model.options.threads) thread(s)")
        if let c = model.checksums {
            printError(String(format: "checksums: %d tensors, %.0f MiB checked in %.1f ms", c.tensors, Double(c.bytes) / 1048576, c.seconds * 1000))
        }
        for line in assignmentLines(model) { printError(line) }
    }

    /// One line per (graph, op, backend): `  decoder: linear x17 -> blas (int8 does not run it)`.
    static func assignmentLines(_ model: CaptionModel) -> [String] {
        model.kernelAssignment.map { row in
            let why = row.backend == "-" ? " (alias of its input: no kernel runs)"
                : row.fallback ? " (fallback: \(model.backend.name) does not run it)" : ""
            return "  \(row.graph): \(row.op) x\(row.count) -> \(row.backend)\(why)"
        }
    }

    /// `kernelAssignment` as JSON objects (`backends --model --json`).
    static func kernelAssignmentJSON(_ model: CaptionModel) -> [[String: Any]] {
        model.kernelAssignment.map { ["graph": $0.graph, "op": $0.op, "backend": $0.backend, "fallback": $0.fallback, "count": $0.count] }
    }

    /// The tokens a caption can have after `model`'s prefix: `requested`, or fewer with a note
    /// on stderr when the model's context is shorter (so no figure claims more tokens than ran).
    static func tokenLimit(_ requested: Int, model: CaptionModel, option: String = "--max-tokens") -> Int {
        let room = max(1, model.config.maxContext - model.config.prefixLength)
        if requested > room {
            printError("note: \(option) \(requested) is more than the model's context leaves after its \(model.config.prefixLength)-token prefix (\(model.config.maxContext) positions); using \(room)")
            return room
        }
        return requested
    }
}
