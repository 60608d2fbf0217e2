import ArgumentParser
import Foundation
import ModelConverter

/// `clipcapctl upgrade`: give a model written before per-row batching the decoder inputs that
/// continuous batching needs (docs/FORMAT.md, "Graph versions").
struct UpgradeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Rewrite an older .ccm's decoder graph with per-row positions and cache lengths (continuous batching).",
        discussion: """
            Files converted before this version decode batches in lockstep (images started together, the batch \
            shrinking as captions end). The upgraded file's decoder takes position_ids and past_lengths, so new images \
            join a running batch. Tensors, tokenizer and metadata are copied unchanged; the captions are identical. \
            The output is written atomically; a file that is already upgraded is left alone.
            """)

    @Argument(help: "The model to upgrade (.ccm).")
    var input: String

    @Option(name: [.short, .long], help: "The upgraded model to write (.ccm).")
    var output: String

    func run() throws {
        let report: BatchGraphUpgrade.Report
        do {
            report = try BatchGraphUpgrade.upgrade(input: input, output: output)
        } catch {
            throw CLIError("\(error)")
        }
        if report.changed {
            print("\(output): decoder takes position_ids and past_lengths (\(report.attentionNodes) attention_cached nodes, position table \(report.positionTables.joined(separator: ", ")))")
        } else {
            print("\(input): already has per-row decoder inputs; nothing written")
        }
    }
}
