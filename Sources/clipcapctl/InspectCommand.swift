import ArgumentParser
import CCMFormat

/// `clipcapctl inspect`: what is inside a `.ccm` file.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe a .ccm model file: sections, metadata, tensors, graphs and tokenizer.",
        discussion: """
            Opening checks the header, section table and table checksums but reads no tensor data; \
            use `clipcapctl verify` to check every tensor.
            """)

    @Argument(help: "The .ccm model file.")
    var file: String

    @Flag(name: .long, help: "Machine-readable JSON output.")
    var json = false

    @Option(name: .long, help: "Print this graph node by node (`outputs = op(inputs) {attrs}`).")
    var graph: String?

    @Flag(name: .long, help: "List every tensor: dtype, shape, encoding, stored and decoded size, ratio, quantization.")
    var tensors = false

    func run() throws {
        let model: ModelFile
        do {
            model = try ModelFile.open(path: file)
        } catch {
            throw CLIError("\(error)")
        }
        if let graph, model.graph(named: graph) == nil {
            throw CLIError("\(file): no graph named '\(graph)'; graphs: \(model.graphs.map(\.name).joined(separator: ", "))")
        }
        let options = InspectOptions(listTensors: tensors, graph: graph)
        print(json ? ModelInspector.json(model, options: options) : ModelInspector.describe(model, options: options))
    }
}
