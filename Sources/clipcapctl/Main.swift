import ArgumentParser

/// `clipcapctl`: convert, caption, quantize, profile, inspect and verify ClipCap models.
@main
struct ClipCapCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipcapctl",
        abstract: "Convert, run, quantize and profile ClipCap image-captioning models (.ccm files).",
        version: VersionInfo.text,
        subcommands: Commands.all
    )
}

/// Every subcommand, one type per file (`<Name>Command.swift`). Add yours to this list.
enum Commands {
    static let all: [ParsableCommand.Type] = [
        ConvertCommand.self,
        CaptionCommand.self,
        BackendsCommand.self,
        InspectCommand.self,
        VerifyCommand.self,
        FormatBenchCommand.self,
        ProfileCommand.self,
        BenchCommand.self,
        QuantizeCommand.self,
        CompareCommand.self,
        ServeCommand.self,
        UpgradeCommand.self,
    ]
}
