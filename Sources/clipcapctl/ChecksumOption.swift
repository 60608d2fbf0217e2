import ArgumentParser

/// `--no-verify`, shared by the commands that load a model: tensor checksums are checked at
/// load by default (docs/ENGINE.md, "Checksums").
struct ChecksumOption: ParsableArguments {
    @Flag(name: .customLong("no-verify"), help: "Skip the CRC32C check of the model's tensors at load (saves one read of the weights; a corrupt weight then gives wrong output instead of an error).")
    var noVerify = false

    /// Accepted for scripts written before checks were on by default; checking is the default.
    @Flag(name: .long, help: .hidden)
    var verifyChecksums = false

    /// Whether the model's checksums are checked.
    var verify: Bool { !noVerify }
}
