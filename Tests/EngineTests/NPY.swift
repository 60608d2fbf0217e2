import Foundation

/// Reads the little-endian float32 / int64 / int32 `.npy` files the PyTorch fixture script writes.
enum NPY {
    struct Array {
        var shape: [Int]
        var values: [Double]
    }

    static func read(_ path: String) throws -> Array {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let bytes = [UInt8](data)
        guard bytes.count > 10, bytes[0] == 0x93, String(bytes: bytes[1..<6], encoding: .ascii) == "NUMPY" else {
            throw NSError(domain: "npy", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(path) is not a .npy file"])
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8; headerStart = 10
        } else {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24; headerStart = 12
        }
        let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .ascii) ?? ""
        let descr = header.components(separatedBy: "'descr': '")[1].components(separatedBy: "'")[0]
        let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
        let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let body = Swift.Array(bytes[(headerStart + headerLength)...])
        var values: [Double] = []
        body.withUnsafeBytes { raw in
            switch descr {
            case "<f4": values = (0..<(body.count / 4)).map { Double(raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self)) }
            case "<f8": values = (0..<(body.count / 8)).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self) }
            case "<i8": values = (0..<(body.count / 8)).map { Double(raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
            case "<i4": values = (0..<(body.count / 4)).map { Double(raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
            default: values = []
            }
        }
        return Array(shape: shape, values: values)
    }
}

/// Cosine similarity of two vectors.
func cosine(_ a: [Double], _ b: [Double]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) { dot += x * y; na += x * x; nb += y * y }
    return dot / max((na * nb).squareRoot(), 1e-30)
}
