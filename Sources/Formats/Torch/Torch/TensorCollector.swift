/// Walks an unpickled checkpoint and names its tensors the way `state_dict()` does: dict keys
/// and TorchScript attribute names joined with dots (`visual.transformer.resblocks.0.attn.in_proj_weight`),
/// list and tuple items by index. Non-tensor values (`training` flags, epochs, strings) are
/// skipped and counted.
///
/// TorchScript modules are records whose BUILD state is a dict of attributes in declaration
/// order: parameters, buffers, then submodules, which is `state_dict()` order. Tensor
/// attributes that are neither parameters nor buffers cannot be told apart from the pickle
/// alone and are included too.
struct TensorCollector {
    let path: String
    let limits: ReaderLimits

    private(set) var found: [(name: String, tensor: TensorRef)] = []
    private(set) var skippedValues = 0
    private(set) var duplicateNames: [String] = []
    private var seenNames: Set<String> = []
    private var onPath: Set<ObjectIdentifier> = []
    private var steps = 0

    init(path: String, limits: ReaderLimits) {
        self.path = path
        self.limits = limits
    }

    mutating func collect(_ root: PickleValue) throws {
        if case .tensor(let tensor) = root {
            try emit("tensor", tensor)   // a bare torch.save(tensor)
        } else {
            try visit(root, prefix: "", depth: 0)
        }
    }

    private mutating func emit(_ name: String, _ tensor: TensorRef) throws {
        guard seenNames.insert(name).inserted else {
            duplicateNames.append(name)
            return
        }
        guard found.count < limits.maxTensors else {
            throw CheckpointError.limitExceeded(path: path, what: "the number of tensors", limit: limits.maxTensors)
        }
        found.append((name, tensor))
    }

    private func join(_ prefix: String, _ component: String) -> String {
        prefix.isEmpty ? component : prefix + "." + component
    }

    private mutating func visit(_ value: PickleValue, prefix: String, depth: Int) throws {
        steps += 1
        guard steps <= limits.maxWalkSteps else {
            throw CheckpointError.limitExceeded(path: path, what: "values visited while collecting tensors", limit: limits.maxWalkSteps)
        }
        guard depth <= limits.maxNestingDepth else {
            throw CheckpointError.limitExceeded(path: path, what: "container nesting", limit: limits.maxNestingDepth)
        }
        switch value {
        case .tensor(let tensor):
            try emit(prefix.isEmpty ? "tensor" : prefix, tensor)
        case .dict(let dict):
            try enter(dict) { walker in
                for (key, item) in dict.entries {
                    try walker.visit(item, prefix: walker.join(prefix, key.nameComponent), depth: depth + 1)
                }
            }
        case .object(let object):
            try enter(object) { walker in
                if let state = object.state { try walker.visit(state, prefix: prefix, depth: depth + 1) }
            }
        case .list(let list):
            try enter(list) { walker in
                for (index, item) in list.items.enumerated() {
                    try walker.visit(item, prefix: walker.join(prefix, String(index)), depth: depth + 1)
                }
            }
        case .tuple(let items, _):
            for (index, item) in items.enumerated() {
                try visit(item, prefix: join(prefix, String(index)), depth: depth + 1)
            }
        case .none, .bool, .int, .float, .string, .bytes, .global, .storage:
            skippedValues += 1
        }
    }

    /// Visits a container unless it is already being visited (a reference cycle).
    private mutating func enter(_ container: AnyObject, _ body: (inout TensorCollector) throws -> Void) throws {
        let id = ObjectIdentifier(container)
        guard onPath.insert(id).inserted else { return }
        defer { onPath.remove(id) }
        try body(&self)
    }
}
