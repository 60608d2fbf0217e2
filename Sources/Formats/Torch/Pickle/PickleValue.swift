/// A value built by the safe unpickler. Python objects are never created: allowed globals
/// become `.global` markers, tensors become descriptions, and TorchScript module objects
/// become plain attribute records.
///
/// Lists, dicts and objects are reference types because pickle semantics are shared and
/// mutable (a container is memoized before it is filled). The unpickler keeps a registry of
/// them and empties them all when it finishes, so cycles cannot leak and deep chains are
/// released without recursion.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    /// Items and their tuple-nesting depth (tuples inside tuples, containers count as 0).
    case tuple([PickleValue], depth: Int)
    case list(PickleList)
    case dict(PickleDict)
    case object(PickleObject)
    case global(PickleGlobal)
    case storage(StorageRef)
    case tensor(TensorRef)

    /// Depth of tuples nested in tuples, which are values and are released recursively.
    var tupleDepth: Int {
        if case .tuple(_, let depth) = self { return depth }
        return 0
    }

    /// A short name for error messages.
    var kindName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .object(let object): return object.className
        case .global(let global): return global.description
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

/// Anything the unpickler registers for teardown.
protocol PickleContainer: AnyObject {
    func removeAll()
}

final class PickleList: PickleContainer {
    var items: [PickleValue] = []
    func removeAll() { items = [] }
}

/// Keys a pickled dict may use here (state dicts use strings; optimizer states use ints).
enum PickleKey: Hashable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case none

    init?(_ value: PickleValue) {
        switch value {
        case .string(let s): self = .string(s)
        case .int(let i): self = .int(i)
        case .bool(let b): self = .bool(b)
        case .none: self = .none
        default: return nil
        }
    }

    /// The key as a component of a dotted tensor name.
    var nameComponent: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "True" : "False"
        case .none: return "None"
        }
    }
}

/// An insertion-ordered dict (Python dicts keep insertion order; state dicts rely on it).
final class PickleDict: PickleContainer {
    private(set) var entries: [(key: PickleKey, value: PickleValue)] = []
    private var index: [PickleKey: Int] = [:]

    func set(_ key: PickleKey, _ value: PickleValue) {
        if let existing = index[key] {
            entries[existing].value = value
        } else {
            index[key] = entries.count
            entries.append((key, value))
        }
    }

    func removeAll() {
        entries = []
        index = [:]
    }
}

/// A TorchScript object (`__torch__.*` class) or the instance dict BUILD gave a non-object.
final class PickleObject: PickleContainer {
    let className: String
    /// Set by BUILD: a dict of attributes for modules, or whatever `__getstate__` returned.
    var state: PickleValue?

    init(className: String) { self.className = className }
    func removeAll() { state = nil }
}

/// A storage named by a persistent id, already resolved to its bytes in the file.
struct StorageRef {
    let key: String
    let element: StoredElement
    /// Elements in the storage (from the persistent id, checked against the entry size).
    let count: Int
    let bytes: Range<Int>
}

/// A tensor view onto a storage.
struct TensorRef {
    let storage: StorageRef
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}
