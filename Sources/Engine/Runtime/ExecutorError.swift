import CCMFormat

/// Errors from loading graphs and running them.
public enum ExecutorError: Error, CustomStringConvertible, Sendable {
    case missingGraph(file: String, graph: String)
    case unknownValue(graph: String, node: String, value: String)
    case unknownOp(graph: String, node: String, op: String)
    case badAttribute(graph: String, node: String, detail: String)
    case shapeMismatch(graph: String, node: String, detail: String)
    case unboundSymbol(String)
    case missingInput(graph: String, input: String)
    case noKernel(graph: String, node: String, op: String)
    case kernelFailed(graph: String, node: String, op: String, detail: String)
    case badMetadata(file: String, key: String, detail: String)
    case unknownBackend(name: String, available: [String])
    case backendUnavailable(name: String, reason: String)
    case capacityExceeded(detail: String)

    public var description: String {
        switch self {
        case .missingGraph(let file, let graph):
            return "\(file): the model has no graph '\(graph)'; it is not a captioning model or was written by an incompatible converter (re-convert it with `clipcapctl convert`)"
        case .unknownValue(let graph, let node, let value):
            return "graph '\(graph)', node '\(node)': input '\(value)' is neither a graph input, a state, an earlier output nor a tensor of the file"
        case .unknownOp(let graph, let node, let op):
            return "graph '\(graph)', node '\(node)': unknown operator '\(op)' (this engine knows the operators in docs/OPS.md; upgrade clipcapctl)"
        case .badAttribute(let graph, let node, let detail):
            return "graph '\(graph)', node '\(node)': \(detail)"
        case .shapeMismatch(let graph, let node, let detail):
            return "graph '\(graph)', node '\(node)': \(detail)"
        case .unboundSymbol(let s):
            return "symbol '\(s)' has no value in this run"
        case .missingInput(let graph, let input):
            return "graph '\(graph)': input '\(input)' was not provided"
        case .noKernel(let graph, let node, let op):
            return "graph '\(graph)', node '\(node)': no backend implements '\(op)' for these element types"
        case .kernelFailed(let graph, let node, let op, let detail):
            return "graph '\(graph)', node '\(node)' (\(op)): \(detail)"
        case .badMetadata(let file, let key, let detail):
            return "\(file): metadata '\(key)' \(detail)"
        case .unknownBackend(let name, let available):
            return "unknown backend '\(name)'; available: \(available.joined(separator: ", "))"
        case .backendUnavailable(let name, let reason):
            return "backend '\(name)' cannot run on this machine: \(reason)"
        case .capacityExceeded(let detail):
            return detail
        }
    }
}
