/// A safe unpickler for the pickles inside PyTorch checkpoints (protocols 2-5).
///
/// It implements only the opcodes `torch.save` and `torch.jit.save` emit, resolves GLOBALs
/// against `PickleGlobal`'s allow-list (refusing anything else on the spot, so no REDUCE can
/// reach it), and applies the allowed callables itself (`PickleCalls`). Every allocation an
/// opcode can trigger is bounded by `ReaderLimits`: ops executed, memo entries, stack size,
/// open marks, tuple nesting, string lengths.
final class Unpickler {
    /// Resolves a persistent id (BINPERSID) to a value, typically a `.storage`.
    typealias PersistentLoad = (PickleValue) throws -> PickleValue

    private let data: [UInt8]
    private let path: String
    private let limits: ReaderLimits
    private let persistentLoad: PersistentLoad
    private var position = 0
    private var opStart = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [UInt32: PickleValue] = [:]
    private var containers: [PickleContainer] = []

    private init(data: [UInt8], path: String, limits: ReaderLimits, persistentLoad: @escaping PersistentLoad) {
        self.data = data
        self.path = path
        self.limits = limits
        self.persistentLoad = persistentLoad
    }

    /// Unpickles `data` and passes the result to `body`. Containers are emptied after `body`
    /// returns, so the value must not escape it.
    static func load<R>(_ data: [UInt8], path: String, limits: ReaderLimits,
                        persistentLoad: @escaping PersistentLoad,
                        body: (PickleValue) throws -> R) throws -> R {
        let unpickler = Unpickler(data: data, path: path, limits: limits, persistentLoad: persistentLoad)
        defer { unpickler.tearDown() }
        let root = try unpickler.run()
        return try body(root)
    }

    /// Empties every container (breaking cycles, releasing deep chains iteratively).
    private func tearDown() {
        stack = []
        memo = [:]
        marks = []
        for container in containers { container.removeAll() }
        containers = []
    }

    // MARK: - Errors

    private func fail(_ reason: String) -> CheckpointError {
        .badPickle(path: path, offset: opStart, reason: reason)
    }

    private func limit(_ what: String, _ value: Int) -> CheckpointError {
        .limitExceeded(path: path, what: what, limit: value)
    }

    // MARK: - Reading the stream

    private func readByte() throws -> UInt8 {
        guard position < data.count else { throw fail("the pickle ends in the middle of an opcode (truncated)") }
        defer { position += 1 }
        return data[position]
    }

    private func readUInt(_ count: Int) throws -> UInt64 {
        guard count <= data.count - position else { throw fail("the pickle ends in the middle of an opcode (truncated)") }
        var value: UInt64 = 0
        for i in 0..<count { value |= UInt64(data[position + i]) << (8 * UInt64(i)) }
        position += count
        return value
    }

    /// `count` bytes after checking the declared length against the limit and the data left.
    private func readBytes(_ count: UInt64) throws -> ArraySlice<UInt8> {
        guard count <= UInt64(limits.maxStringBytes) else {
            throw limit("a pickled string of \(count) bytes", limits.maxStringBytes)
        }
        let n = Int(count)
        guard n <= data.count - position else {
            throw fail("a string of \(n) bytes runs past the end of the pickle (truncated)")
        }
        defer { position += n }
        return data[position..<position + n]
    }

    private func readUTF8(_ count: UInt64) throws -> String {
        let bytes = try readBytes(count)
        guard let string = String(validating: bytes, as: UTF8.self) else { throw fail("a string is not valid UTF-8") }
        return string
    }

    /// A newline-terminated ASCII line (GLOBAL's module and name), at most 1 KiB.
    private func readLine() throws -> String {
        var bytes: [UInt8] = []
        while true {
            let byte = try readByte()
            if byte == 0x0A { break }
            bytes.append(byte)
            guard bytes.count <= 1024 else { throw fail("a GLOBAL name is longer than 1024 bytes") }
        }
        guard let line = String(validating: bytes, as: UTF8.self) else { throw fail("a GLOBAL name is not UTF-8") }
        return line
    }

    /// A signed little-endian integer of `count` bytes (LONG1/LONG4), at most 8 bytes.
    private func readLong(_ count: UInt64) throws -> Int64 {
        guard count <= 8 else { throw fail("an integer of \(count) bytes is larger than 64 bits") }
        let n = Int(count)
        guard n > 0 else { return 0 }
        var value = try readUInt(n)
        if n < 8, value & (1 << (UInt64(n) * 8 - 1)) != 0 { value |= ~0 << (UInt64(n) * 8) }   // sign-extend
        return Int64(bitPattern: value)
    }

    // MARK: - Stack

    private func push(_ value: PickleValue) throws {
        guard stack.count < limits.maxStackDepth else { throw limit("the pickle stack size", limits.maxStackDepth) }
        stack.append(value)
    }

    private func pop() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0), let value = stack.popLast() else { throw fail("stack underflow") }
        return value
    }

    private func top() throws -> PickleValue {
        guard stack.count > (marks.last ?? 0), let value = stack.last else { throw fail("stack underflow") }
        return value
    }

    /// Pops everything above the last MARK, and the mark.
    private func popToMark() throws -> [PickleValue] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw fail("no MARK to pop to") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private func makeTuple(_ items: [PickleValue]) throws -> PickleValue {
        let depth = 1 + (items.map(\.tupleDepth).max() ?? 0)
        guard depth <= limits.maxNestingDepth else { throw limit("tuple nesting", limits.maxNestingDepth) }
        return .tuple(items, depth: depth)
    }

    private func register<C: PickleContainer>(_ container: C) -> C {
        containers.append(container)
        return container
    }

    private func newDict() -> PickleDict { register(PickleDict()) }

    private func setItems(_ items: ArraySlice<PickleValue>, into dict: PickleDict) throws {
        guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
        var i = items.startIndex
        while i < items.endIndex {
            guard let key = PickleKey(items[i]) else { throw fail("a dict key of type \(items[i].kindName) is not supported") }
            dict.set(key, items[i + 1])
            i += 2
        }
    }

    private func memoize(_ index: UInt32, _ value: PickleValue) throws {
        if memo[index] == nil, memo.count >= limits.maxMemoEntries {
            throw limit("the pickle memo size", limits.maxMemoEntries)
        }
        memo[index] = value
    }

    private func recall(_ index: UInt32) throws -> PickleValue {
        guard let value = memo[index] else { throw fail("memo entry \(index) is used before it is defined") }
        return value
    }

    private func resolveGlobal(module: String, name: String) throws -> PickleValue {
        if let global = PickleGlobal(module: module, name: name) { return .global(global) }
        if module == "torch", name.hasSuffix("Storage") {
            throw CheckpointError.unsupportedDType(path: path, tensor: "(storage type)", dtype: "torch." + name)
        }
        throw CheckpointError.forbiddenGlobal(path: path, global: module + "." + name)
    }

    // MARK: - The machine

    private func run() throws -> PickleValue {
        var ops = 0
        while true {
            ops += 1
            guard ops <= limits.maxPickleOps else { throw limit("the number of pickle opcodes", limits.maxPickleOps) }
            opStart = position
            guard position < data.count else { throw fail("the pickle ends without a STOP opcode (truncated)") }
            let opcode = data[position]
            position += 1
            switch opcode {
            case 0x80:  // PROTO
                let version = try readByte()
                guard version <= 5 else { throw fail("pickle protocol \(version) is not supported") }
            case 0x95:  // FRAME: a buffering hint; the length is only sanity-checked
                let length = try readUInt(8)
                guard length <= UInt64(data.count - position) else { throw fail("a FRAME runs past the end (truncated)") }
            case 0x2E:  // STOP
                guard marks.isEmpty else { throw fail("STOP inside an unclosed MARK") }
                return try pop()
            case 0x28:  // MARK
                guard marks.count < limits.maxMarkDepth else { throw limit("open MARKs", limits.maxMarkDepth) }
                marks.append(stack.count)
            case 0x30:  // POP
                _ = try pop()
            case 0x31:  // POP_MARK
                _ = try popToMark()
            case 0x32:  // DUP
                try push(try top())
            case 0x4E: try push(.none)          // NONE
            case 0x88: try push(.bool(true))    // NEWTRUE
            case 0x89: try push(.bool(false))   // NEWFALSE
            case 0x4A:  // BININT
                try push(.int(Int64(Int32(bitPattern: UInt32(try readUInt(4))))))
            case 0x4B:  // BININT1
                try push(.int(Int64(try readByte())))
            case 0x4D:  // BININT2
                try push(.int(Int64(try readUInt(2))))
            case 0x8A:  // LONG1
                try push(.int(try readLong(UInt64(try readByte()))))
            case 0x8B:  // LONG4
                try push(.int(try readLong(try readUInt(4))))
            case 0x47:  // BINFLOAT (big-endian)
                let raw = try readUInt(8)
                try push(.float(Double(bitPattern: raw.byteSwapped)))
            case 0x58:  // BINUNICODE
                try push(.string(try readUTF8(try readUInt(4))))
            case 0x8C:  // SHORT_BINUNICODE
                try push(.string(try readUTF8(UInt64(try readByte()))))
            case 0x8D:  // BINUNICODE8
                try push(.string(try readUTF8(try readUInt(8))))
            case 0x54:  // BINSTRING (Python 2 str, latin-1)
                let length = Int32(bitPattern: UInt32(try readUInt(4)))
                guard length >= 0 else { throw fail("negative BINSTRING length") }
                try push(.string(String(decoding: try readBytes(UInt64(length)).map { UInt16($0) }, as: UTF16.self)))
            case 0x55:  // SHORT_BINSTRING
                try push(.string(String(decoding: try readBytes(UInt64(try readByte())).map { UInt16($0) }, as: UTF16.self)))
            case 0x42:  // BINBYTES
                try push(.bytes(Array(try readBytes(try readUInt(4)))))
            case 0x43:  // SHORT_BINBYTES
                try push(.bytes(Array(try readBytes(UInt64(try readByte())))))
            case 0x8E:  // BINBYTES8
                try push(.bytes(Array(try readBytes(try readUInt(8)))))
            case 0x29: try push(try makeTuple([]))                  // EMPTY_TUPLE
            case 0x74: try push(try makeTuple(try popToMark()))     // TUPLE
            case 0x85:  // TUPLE1
                let a = try pop()
                try push(try makeTuple([a]))
            case 0x86:  // TUPLE2
                let b = try pop(), a = try pop()
                try push(try makeTuple([a, b]))
            case 0x87:  // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                try push(try makeTuple([a, b, c]))
            case 0x5D:  // EMPTY_LIST
                try push(.list(register(PickleList())))
            case 0x6C:  // LIST
                let list = register(PickleList())
                list.items = try popToMark()
                try push(.list(list))
            case 0x61:  // APPEND
                let value = try pop()
                guard case .list(let list) = try top() else { throw fail("APPEND to a \(try top().kindName)") }
                list.items.append(value)
            case 0x65:  // APPENDS
                let items = try popToMark()
                guard case .list(let list) = try top() else { throw fail("APPENDS to a non-list") }
                list.items.append(contentsOf: items)
            case 0x7D:  // EMPTY_DICT
                try push(.dict(newDict()))
            case 0x64:  // DICT
                let items = try popToMark()
                let dict = newDict()
                try setItems(items[...], into: dict)
                try push(.dict(dict))
            case 0x73:  // SETITEM
                let value = try pop(), key = try pop()
                guard case .dict(let dict) = try top() else { throw fail("SETITEM on a non-dict") }
                try setItems([key, value], into: dict)
            case 0x75:  // SETITEMS
                let items = try popToMark()
                guard case .dict(let dict) = try top() else { throw fail("SETITEMS on a non-dict") }
                try setItems(items[...], into: dict)
            case 0x63:  // GLOBAL
                let module = try readLine()
                let name = try readLine()
                try push(try resolveGlobal(module: module, name: name))
            case 0x93:  // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                try push(try resolveGlobal(module: module, name: name))
            case 0x52:  // REDUCE
                let args = try pop()
                let callable = try pop()
                try push(try PickleCalls(path: path, limits: limits).call(callable, args, makeDict: newDict,
                                                                         makeObject: { self.register(PickleObject(className: $0)) },
                                                                         fail: fail))
            case 0x81:  // NEWOBJ
                let args = try pop()
                let cls = try pop()
                guard case .global(.torchScriptClass(let name)) = cls, case .tuple = args else {
                    throw fail("NEWOBJ on \(cls.kindName) is not supported")
                }
                try push(.object(register(PickleObject(className: name))))
            case 0x62:  // BUILD
                let state = try pop()
                switch try top() {
                case .object(let object): object.state = state
                case .dict, .tensor: break   // OrderedDict's instance dict (`_metadata`), tensor hooks: not needed
                default: throw fail("BUILD on a \(try top().kindName) is not supported")
                }
            case 0x51:  // BINPERSID
                let pid = try pop()
                try push(try persistentLoad(pid))
            case 0x71:  // BINPUT
                try memoize(UInt32(try readByte()), try top())
            case 0x72:  // LONG_BINPUT
                try memoize(UInt32(try readUInt(4)), try top())
            case 0x94:  // MEMOIZE
                guard memo.count < Int(UInt32.max) else { throw fail("memo overflow") }
                try memoize(UInt32(memo.count), try top())
            case 0x68:  // BINGET
                try push(try recall(UInt32(try readByte())))
            case 0x6A:  // LONG_BINGET
                try push(try recall(UInt32(try readUInt(4))))
            default:
                throw fail("opcode 0x\(String(opcode, radix: 16)) is not supported by this safe reader")
            }
        }
    }
}
