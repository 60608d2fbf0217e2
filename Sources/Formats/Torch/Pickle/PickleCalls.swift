/// What REDUCE does for each allowed global, reimplemented over `PickleValue`s. Tensors are
/// validated here: every view must lie inside its storage.
struct PickleCalls {
    let path: String
    let limits: ReaderLimits

    func call(_ callable: PickleValue, _ args: PickleValue,
              makeDict: () -> PickleDict, makeObject: (String) -> PickleObject,
              fail: (String) -> CheckpointError) throws -> PickleValue {
        guard case .global(let global) = callable else {
            throw fail("REDUCE on a \(callable.kindName), which is not callable")
        }
        guard case .tuple(let arguments, _) = args else {
            throw fail("REDUCE arguments for \(global) are a \(args.kindName), not a tuple")
        }
        switch global {
        case .orderedDict:
            let dict = makeDict()
            if let initial = arguments.first {
                try fillOrderedDict(dict, from: initial, fail: fail)
            }
            return .dict(dict)
        case .rebuildTensorV2:
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            guard arguments.count == 6 || arguments.count == 7 else {
                throw fail("_rebuild_tensor_v2 takes 6 or 7 arguments, got \(arguments.count)")
            }
            return .tensor(try rebuildTensor(arguments, fail: fail))
        case .rebuildTensor:
            guard arguments.count == 4 else { throw fail("_rebuild_tensor takes 4 arguments, got \(arguments.count)") }
            return .tensor(try rebuildTensor(arguments, fail: fail))
        case .rebuildParameter, .rebuildParameterWithState:
            // (data, requires_grad, backward_hooks[, state])
            guard let data = arguments.first, case .tensor = data else {
                throw fail("\(global) needs a tensor as its first argument")
            }
            return data
        case .restoreTypeTag:
            guard let value = arguments.first else { throw fail("restore_type_tag needs a value") }
            return value
        case .buildList:
            guard let value = arguments.first, case .list = value else { throw fail("\(global) needs a list") }
            return value
        case .torchScriptClass(let name):
            return .object(makeObject(name))
        case .storageType:
            throw fail("\(global) is called directly, which PyTorch files never do")
        }
    }

    /// `OrderedDict(pairs)`: a list or tuple of 2-tuples.
    private func fillOrderedDict(_ dict: PickleDict, from initial: PickleValue,
                                 fail: (String) -> CheckpointError) throws {
        let pairs: [PickleValue]
        switch initial {
        case .list(let list): pairs = list.items
        case .tuple(let items, _): pairs = items
        default: throw fail("OrderedDict built from a \(initial.kindName)")
        }
        for pair in pairs {
            guard case .tuple(let kv, _) = pair, kv.count == 2, let key = PickleKey(kv[0]) else {
                throw fail("OrderedDict built from something other than (key, value) pairs")
            }
            dict.set(key, kv[1])
        }
    }

    private func rebuildTensor(_ arguments: [PickleValue], fail: (String) -> CheckpointError) throws -> TensorRef {
        guard case .storage(let storage) = arguments[0] else {
            throw fail("a tensor's storage is a \(arguments[0].kindName), not a persistent storage")
        }
        let what = "on storage \(storage.key)"
        guard case .int(let offset64) = arguments[1], offset64 >= 0, offset64 <= Int64(Int.max / 2) else {
            throw CheckpointError.badTensor(path: path, tensor: what, reason: "its storage offset is not a non-negative integer")
        }
        let shape = try intTuple(arguments[2], what: what, field: "size")
        let strides = try intTuple(arguments[3], what: what, field: "stride")
        guard shape.count == strides.count else {
            throw CheckpointError.badTensor(path: path, tensor: what, reason: "it has \(shape.count) sizes but \(strides.count) strides")
        }
        guard shape.count <= limits.maxDimensions else {
            throw CheckpointError.limitExceeded(path: path, what: "a tensor's number of dimensions (\(shape.count))",
                                                limit: limits.maxDimensions)
        }
        let offset = Int(offset64)
        guard let extent = StridedExtent(offset: offset, shape: shape, strides: strides) else {
            throw CheckpointError.badTensor(path: path, tensor: what, reason: "its sizes or strides are negative or overflow")
        }
        guard extent.count == 0 || extent.endElement <= storage.count else {
            throw CheckpointError.badTensor(path: path, tensor: what,
                                            reason: "its view (offset \(offset), size \(shape), stride \(strides)) reaches element \(extent.endElement) of a storage of \(storage.count)")
        }
        if extent.count > storage.count {
            // Only views that reuse elements (expand/broadcast) have more elements than their storage.
            let (bytes, overflow) = extent.count.multipliedReportingOverflow(by: storage.element.size)
            guard !overflow, bytes <= limits.maxRepeatingViewBytes else {
                throw CheckpointError.limitExceeded(path: path, what: "a broadcast view \(shape) \(what) that repeats its storage",
                                                    limit: limits.maxRepeatingViewBytes)
            }
        }
        return TensorRef(storage: storage, offset: offset, shape: shape, strides: strides)
    }

    private func intTuple(_ value: PickleValue, what: String, field: String) throws -> [Int] {
        let items: [PickleValue]
        switch value {
        case .tuple(let t, _): items = t
        case .list(let l): items = l.items
        default: throw CheckpointError.badTensor(path: path, tensor: what, reason: "its \(field) is a \(value.kindName), not a tuple")
        }
        guard items.count <= limits.maxDimensions else {
            throw CheckpointError.limitExceeded(path: path, what: "a tensor's number of dimensions (\(items.count))",
                                                limit: limits.maxDimensions)
        }
        return try items.map {
            guard case .int(let v) = $0, v >= 0, v <= Int64(Int.max / 2) else {
                throw CheckpointError.badTensor(path: path, tensor: what, reason: "its \(field) holds a value that is not a non-negative integer")
            }
            return Int(v)
        }
    }
}
