/// The allow-list: the only globals a pickle may import. Each is either inert data (storage
/// classes, TorchScript class names used as record labels) or a function whose effect we
/// reimplement without running Python (`PickleCalls`). Anything else stops the read at
/// the GLOBAL opcode, before any REDUCE could use it.
enum PickleGlobal: CustomStringConvertible {
    case orderedDict
    case rebuildTensorV2
    case rebuildTensor
    case rebuildParameter
    case rebuildParameterWithState
    case storageType(StoredElement)
    /// `__torch__.<module>.<Class>`: TorchScript classes, instantiated as attribute records.
    case torchScriptClass(String)
    /// `torch.jit._pickle.restore_type_tag(value, type_string)`: returns `value`.
    case restoreTypeTag
    /// `torch.jit._pickle.build_{int,double,bool,tensor,generic}list(list)`: returns the list.
    case buildList(String)

    /// Resolves `module.name`, or nil when it is not allowed.
    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor"): self = .rebuildTensor
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("torch.jit._pickle", "restore_type_tag"): self = .restoreTypeTag
        case ("torch.jit._pickle", "build_intlist"), ("torch.jit._pickle", "build_doublelist"),
             ("torch.jit._pickle", "build_boollist"), ("torch.jit._pickle", "build_tensorlist"),
             ("torch.jit._pickle", "build_genericlist"):
            self = .buildList(name)
        case ("torch", _):
            guard let element = StoredElement(torchStorageName: name) else { return nil }
            self = .storageType(element)
        default:
            guard module == "__torch__" || module.hasPrefix("__torch__."), Self.isIdentifier(name) else { return nil }
            self = .torchScriptClass(module + "." + name)
        }
    }

    private static func isIdentifier(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    var description: String {
        switch self {
        case .orderedDict: return "collections.OrderedDict"
        case .rebuildTensorV2: return "torch._utils._rebuild_tensor_v2"
        case .rebuildTensor: return "torch._utils._rebuild_tensor"
        case .rebuildParameter: return "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: return "torch._utils._rebuild_parameter_with_state"
        case .storageType(let element): return "torch storage of \(element.rawValue)"
        case .torchScriptClass(let name): return name
        case .restoreTypeTag: return "torch.jit._pickle.restore_type_tag"
        case .buildList(let name): return "torch.jit._pickle." + name
        }
    }
}
