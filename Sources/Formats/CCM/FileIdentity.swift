import Foundation

/// Tells whether two paths name the same file (same device and inode, through links), so a
/// command can refuse to write its output over one of its inputs.
public enum FileIdentity {
    /// True when both paths exist and are the same file.
    public static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// The first input that `output` would overwrite: an input file itself, or a file directly
    /// inside an input folder. `nil` when the output touches no input.
    public static func inputOverwritten(by output: String, inputs: [String]) -> String? {
        for input in inputs {
            if sameFile(output, input) { return input }
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: input, isDirectory: &isDir), isDir.boolValue,
               let names = try? FileManager.default.contentsOfDirectory(atPath: input) {
                for name in names where sameFile(output, (input as NSString).appendingPathComponent(name)) {
                    return (input as NSString).appendingPathComponent(name)
                }
            }
        }
        return nil
    }
}
