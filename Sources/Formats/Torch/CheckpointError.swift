/// Everything that can go wrong reading a checkpoint. Each message names the file, says what
/// is wrong with it and what to do about it.
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened or mapped.
    case cannotOpen(path: String, reason: String)
    /// The file has no bytes.
    case emptyFile(path: String)
    /// A git-lfs pointer file was checked out instead of the real file.
    case gitLFSPointer(path: String)
    /// An HTML page (login page, 404, redirect) was saved under the checkpoint's name.
    case htmlPage(path: String)
    /// Some other text file.
    case textFile(path: String, start: String)
    /// Bytes that match no supported format.
    case unknownFormat(path: String, firstBytes: String)
    /// A clipcap `.ccm` model given where a PyTorch checkpoint was expected.
    case alreadyConverted(path: String)
    /// A pre-1.6 `torch.save` file (a stream of raw pickles).
    case legacyTorchFormat(path: String)
    /// A raw pickle that is not a torch zip checkpoint.
    case barePickle(path: String)
    /// The file ends before a structure it declares.
    case truncated(path: String, what: String)
    /// The zip container is malformed.
    case corruptZip(path: String, reason: String)
    /// A zip entry name is absolute or climbs out of the archive.
    case unsafeEntryName(path: String, name: String)
    /// A zip entry we need is compressed or encrypted.
    case unsupportedEntry(path: String, name: String, reason: String)
    /// A zip entry we need is missing.
    case missingEntry(path: String, name: String)
    /// A configurable safety limit was exceeded.
    case limitExceeded(path: String, what: String, limit: Int)
    /// The pickle imports something outside the allow-list. Nothing was executed.
    case forbiddenGlobal(path: String, global: String)
    /// The pickle stream is malformed or uses something this reader does not implement.
    case badPickle(path: String, offset: Int, reason: String)
    /// A tensor has an element type clipcap cannot use.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A tensor's size, strides or storage are inconsistent.
    case badTensor(path: String, tensor: String, reason: String)
    /// The safetensors header breaks the format's rules.
    case badSafetensors(path: String, reason: String)
    /// A JSON file (config, index, safetensors header) is malformed.
    case badJSON(path: String, reason: String)
    /// A Hugging Face model folder is incomplete or inconsistent.
    case badModelFolder(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot open \(path): \(reason). Check the path and its permissions."
        case .emptyFile(let path):
            return "\(path) is empty (0 bytes): the download or copy failed; fetch the file again."
        case .gitLFSPointer(let path):
            return "\(path) is a git-lfs pointer, not the checkpoint itself: run `git lfs pull` in its repository (or download the file directly)."
        case .htmlPage(let path):
            return "\(path) is an HTML page, not a checkpoint: the download probably failed (login page, error page or redirect); download the file again."
        case .textFile(let path, let start):
            return "\(path) is a text file (it starts with \"\(start)\"), not a checkpoint: check that you downloaded the weights file."
        case .alreadyConverted(let path):
            return "\(path) is already a clipcap model (.ccm), not a PyTorch checkpoint: use it directly with `clipcapctl caption --model`"
        case .unknownFormat(let path, let firstBytes):
            return "\(path) is not a PyTorch zip checkpoint, TorchScript archive or safetensors file (first bytes \(firstBytes)); convert it with PyTorch to one of those."
        case .legacyTorchFormat(let path):
            return "\(path) uses PyTorch's legacy format, which cannot be read without running pickle code: re-save with torch>=1.6 (`torch.save(torch.load(f), f2)`) or convert it to safetensors."
        case .barePickle(let path):
            return "\(path) is a bare Python pickle, not a torch zip checkpoint: load it in Python and re-save the tensors with torch.save (torch>=1.6) or safetensors."
        case .truncated(let path, let what):
            return "\(path) is truncated or corrupt: \(what) extends past the end of the file; download it again."
        case .corruptZip(let path, let reason):
            return "\(path) is a damaged zip archive: \(reason); download or re-save it."
        case .unsafeEntryName(let path, let name):
            return "refusing to read \(path): its zip entry \"\(name)\" is an absolute path or contains `..`; this is not a file PyTorch writes."
        case .unsupportedEntry(let path, let name, let reason):
            return "\(path): zip entry \"\(name)\" is \(reason); PyTorch stores tensors uncompressed, so re-save the file with torch.save."
        case .missingEntry(let path, let name):
            return "\(path) lacks the zip entry \"\(name)\": the archive is incomplete; re-save or download it again."
        case .limitExceeded(let path, let what, let limit):
            return "refusing to read \(path): \(what) exceeds the limit of \(limit); if the file is genuine, raise the matching ReaderLimits field."
        case .forbiddenGlobal(let path, let global):
            return "refusing to load \(path): its pickle imports \(global), which is not on the allow-list of tensor-rebuilding functions; nothing was executed. If it holds a whole pickled model, load it in trusted Python and re-save `model.state_dict()` or safetensors."
        case .badPickle(let path, let offset, let reason):
            return "\(path): its pickle data is malformed at byte \(offset): \(reason); re-save the checkpoint with torch.save."
        case .unsupportedDType(let path, let tensor, let dtype):
            return "\(path): tensor \"\(tensor)\" has element type \(dtype), which clipcap cannot use; convert it to float32/float16/bfloat16 in PyTorch and re-save."
        case .badTensor(let path, let tensor, let reason):
            return "\(path): tensor \"\(tensor)\" is inconsistent: \(reason); the file is corrupt, re-save or download it again."
        case .badSafetensors(let path, let reason):
            return "\(path) is not a valid safetensors file: \(reason); download or re-export it."
        case .badJSON(let path, let reason):
            return "\(path) is not valid JSON: \(reason); download it again."
        case .badModelFolder(let path, let reason):
            return "\(path) is not a usable Hugging Face model folder: \(reason)."
        }
    }
}
