import CCMFormat
import Foundation
import TorchFormats

/// Opens input files with `TorchFormats` and hands their tensors to the converter.
enum CheckpointLoading {
    /// Reads a checkpoint file (torch zip, TorchScript, safetensors). Nothing in it is executed:
    /// the pickle reader refuses any global outside its allow-list.
    static func read(_ path: String, role: String) throws -> WeightSet {
        let contents: CheckpointContents
        do {
            contents = try CheckpointReader.read(path: path)
        } catch let error as CheckpointError {
            throw ConvertError.unreadableCheckpoint(role: role, path: path, reason: error.description)
        }
        return WeightSet(role: role, path: path, tensors: CheckpointKeys.unwrappingDataParallel(contents.tensors.map(inputTensor)))
    }

    /// Reads the weights of a Hugging Face model folder (safetensors, sharded or not, or
    /// `pytorch_model.bin`) and its `config.json`.
    static func readFolder(_ path: String, role: String) throws -> (WeightSet, JSONObject) {
        let folder: HFModelFolder
        do {
            folder = try HFModelFolder.open(path: path)
        } catch let error as CheckpointError {
            throw ConvertError.unreadableCheckpoint(role: role, path: path, reason: error.description)
        }
        let config = try JSONObject.load(path + "/config.json", optional: true)
        return (WeightSet(role: role, path: path, tensors: CheckpointKeys.unwrappingDataParallel(folder.weights.tensors.map(inputTensor))), config)
    }

    private static func inputTensor(_ tensor: SourceTensor) -> InputTensor {
        InputTensor(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, load: { try tensor.bytes() })
    }

    /// Whether a folder holds model weights the reader understands.
    static func folderHasWeights(_ path: String) -> Bool {
        let names = ["model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"]
        return names.contains { FileManager.default.fileExists(atPath: path + "/" + $0) }
    }
}
