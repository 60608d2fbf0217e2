import ClipCap
import Foundation

/// `--dump DIR`: one folder per image, named after the image file without its extension
/// (`DIR/cat` for `photos/cat.jpg`); images whose names collide get `-2`, `-3`, ... in input
/// order, so the names do not depend on which image finished first.
struct DumpFolders: Sendable {
    let root: String
    private let names: [String]

    init(root: String, files: [String]) {
        self.root = root
        var used: [String: Int] = [:]
        names = files.map { file in
            var stem = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
            if stem.isEmpty || stem == "." || stem == ".." { stem = "image" }
            let n = (used[stem] ?? 0) + 1
            used[stem] = n
            return n == 1 ? stem : "\(stem)-\(n)"
        }
    }

    /// The folder for the image at `index` of the input.
    func folder(for index: Int) -> String { (root as NSString).appendingPathComponent(names[index]) }
}

/// Writes one image's intermediate tensors as `.npy` files (each written atomically).
enum DumpWriter {
    static func write(_ inter: Intermediates, to dir: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw CLIError("\(dir): cannot create the --dump folder: \((error as NSError).localizedDescription)")
        }
        let s = inter.imageSize
        try writeFileAtomically(npyData(inter.pixelValues, shape: [1, 3, s, s]), to: dir + "/pixel_values.npy")
        try writeFileAtomically(npyData(inter.imageEmbedding, shape: [1, inter.imageEmbedding.count]), to: dir + "/image_embedding.npy")
        let p = inter.prefixLength
        try writeFileAtomically(npyData(inter.prefixEmbeddings, shape: [1, p, inter.prefixEmbeddings.count / max(p, 1)]), to: dir + "/prefix_embeddings.npy")
        if !inter.logits.isEmpty {
            try writeFileAtomically(npyData(inter.logits.flatMap { $0 }, shape: [inter.logits.count, inter.logits[0].count]), to: dir + "/logits.npy")
        }
    }
}
