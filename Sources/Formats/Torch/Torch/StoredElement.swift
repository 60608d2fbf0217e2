import CCMFormat

/// An element type as stored in a checkpoint, and how it maps onto clipcap's `DType`.
/// Types clipcap has no `DType` for are converted when read: float64 is narrowed to f32,
/// int16 widened to i32, bool read as u8 (0/1). Everything else is refused.
enum StoredElement: String, Sendable, CaseIterable {
    case float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool

    /// Bytes per stored element.
    var size: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// The element type `SourceTensor.bytes()` returns.
    var dtype: DType {
        switch self {
        case .float32, .float64: return .f32
        case .float16: return .f16
        case .bfloat16: return .bf16
        case .int64: return .i64
        case .int32, .int16: return .i32
        case .int8: return .i8
        case .uint8, .bool: return .u8
        }
    }

    /// True when the bytes must be rewritten to produce `dtype`.
    var needsConversion: Bool { self == .float64 || self == .int16 }

    /// `torch.FloatStorage` and friends (the storage classes named in persistent ids).
    init?(torchStorageName name: String) {
        switch name {
        case "FloatStorage": self = .float32
        case "HalfStorage": self = .float16
        case "BFloat16Storage": self = .bfloat16
        case "DoubleStorage": self = .float64
        case "LongStorage": self = .int64
        case "IntStorage": self = .int32
        case "ShortStorage": self = .int16
        case "CharStorage": self = .int8
        case "ByteStorage": self = .uint8
        case "BoolStorage": self = .bool
        default: return nil
        }
    }

    /// safetensors dtype strings.
    init?(safetensorsName name: String) {
        switch name {
        case "F32": self = .float32
        case "F16": self = .float16
        case "BF16": self = .bfloat16
        case "F64": self = .float64
        case "I64": self = .int64
        case "I32": self = .int32
        case "I16": self = .int16
        case "I8": self = .int8
        case "U8": self = .uint8
        case "BOOL": self = .bool
        default: return nil
        }
    }

    /// Rewrites little-endian stored elements as `dtype` elements (f64 -> f32, i16 -> i32).
    func convert(_ bytes: [UInt8]) -> [UInt8] {
        switch self {
        case .float64:
            var out = [UInt8]()
            out.reserveCapacity(bytes.count / 2)
            var i = 0
            while i + 8 <= bytes.count {
                var bits: UInt64 = 0
                for k in 0..<8 { bits |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
                let narrowed = Float(Double(bitPattern: bits)).bitPattern
                for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: narrowed >> (8 * UInt32(k)))) }
                i += 8
            }
            return out
        case .int16:
            var out = [UInt8]()
            out.reserveCapacity(bytes.count * 2)
            var i = 0
            while i + 2 <= bytes.count {
                let value = Int32(Int16(bitPattern: UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8))
                let bits = UInt32(bitPattern: value)
                for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt32(k)))) }
                i += 2
            }
            return out
        default:
            return bytes
        }
    }
}

/// Reverses the byte order of every `elementSize`-byte element (big-endian checkpoints).
func byteSwapped(_ bytes: [UInt8], elementSize: Int) -> [UInt8] {
    guard elementSize > 1 else { return bytes }
    var out = bytes
    var start = 0
    while start + elementSize <= out.count {
        out[start..<start + elementSize].reverse()
        start += elementSize
    }
    return out
}
