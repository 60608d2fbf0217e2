import CCMFormat

/// A tensor whose shape differs from the one the architecture needs.
public struct ShapeMismatch: Sendable, Equatable, CustomStringConvertible {
    /// Name of the tensor in the source checkpoint.
    public var name: String
    /// The shape the architecture (derived from the other weights and the configs) expects.
    public var expected: [Int]
    /// The shape found in the file.
    public var actual: [Int]

    public init(name: String, expected: [Int], actual: [Int]) {
        self.name = name
        self.expected = expected
        self.actual = actual
    }

    public var description: String { "\(name): expected \(expected), found \(actual)" }
}

/// Everything that can make `clipcapctl convert` refuse its inputs. Each message names the
/// file, what is wrong and what to do about it.
public enum ConvertError: Error, CustomStringConvertible, Sendable {
    /// A required input file or folder does not exist.
    case missingInput(role: String, path: String)
    /// A checkpoint could not be read (unsupported or corrupt file, refused pickle, ...).
    case unreadableCheckpoint(role: String, path: String, reason: String)
    /// A config file is missing, not JSON, or lacks a value the converter needs.
    case badConfig(path: String, reason: String)
    /// The tensors do not form any architecture the converter knows.
    case unknownArchitecture(role: String, path: String, reason: String)
    /// Strict key check (like `load_state_dict(strict=True)`) failed.
    case keyMismatch(role: String, path: String, missing: [String], unexpected: [String], shapes: [ShapeMismatch])
    /// A tensor has a dtype the converter cannot turn into float weights.
    case unsupportedDType(name: String, dtype: String, path: String)
    /// Command-line options contradict each other or the weights.
    case invalidOption(String)
    /// No usable tokenizer files were found.
    case tokenizer(path: String, reason: String)
    /// A produced graph failed validation (a converter bug, reported rather than written).
    case invalidGraph(graph: String, reason: String)
    /// Writing the output file failed.
    case writeFailed(path: String, reason: String)
    /// The output path names one of the inputs: writing would destroy it.
    case outputIsInput(output: String, input: String)

    public var description: String {
        switch self {
        case .missingInput(let role, let path):
            return "\(path): no such file or folder (the \(role) input). Check the path given to --\(role)."
        case .unreadableCheckpoint(let role, let path, let reason):
            // Reader messages usually start with the path already: say it once.
            let what = role == "checkpoint" ? "the ClipCap checkpoint" : "the \(role) input"
            var detail = reason.hasPrefix(path + ": ") ? String(reason.dropFirst(path.count + 2)) : reason
            detail = detail.replacingOccurrences(of: "refusing to load \(path): ", with: "refusing to load it: ")
            return "\(path): cannot read \(what): \(detail)"
        case .badConfig(let path, let reason):
            return "\(path): \(reason)"
        case .unknownArchitecture(let role, let path, let reason):
            let what = role == "checkpoint" ? "ClipCap checkpoint" : "\(role) checkpoint"
            return "\(path): not a supported \(what): \(reason). See docs/CONVERT.md for the supported layouts."
        case .keyMismatch(let role, let path, let missing, let unexpected, let shapes):
            var lines = ["\(path): the \(role) weights do not match the architecture (strict key check):"]
            if !missing.isEmpty { lines.append("  missing keys (\(missing.count)): " + Self.list(missing)) }
            if !unexpected.isEmpty { lines.append("  unexpected keys (\(unexpected.count)): " + Self.list(unexpected)) }
            if !shapes.isEmpty { lines.append("  shape mismatches (\(shapes.count)): " + Self.list(shapes.map(\.description))) }
            lines.append("  Is this the right checkpoint for --\(role), and do --mapping / the configs match how it was trained?")
            return lines.joined(separator: "\n")
        case .unsupportedDType(let name, let dtype, let path):
            return "\(path): tensor \(name) has dtype \(dtype); only f32, f16 and bf16 weights can be converted."
        case .invalidOption(let message):
            return message
        case .tokenizer(let path, let reason):
            return "\(path): \(reason)"
        case .invalidGraph(let graph, let reason):
            return "internal error: the converter built an invalid '\(graph)' graph (\(reason)); please report this with the input files' layout."
        case .writeFailed(let path, let reason):
            return "\(path): could not write the model: \(reason)"
        case .outputIsInput(let output, let input):
            return "\(output): refusing to write the model over an input (same file as \(input)); choose another -o path"
        }
    }

    /// Lists at most 20 names so a wholly wrong checkpoint does not print thousands of lines.
    private static func list(_ names: [String]) -> String {
        let shown = names.prefix(20).joined(separator: ", ")
        return names.count > 20 ? shown + ", ... (\(names.count - 20) more)" : shown
    }
}
