import Foundation

/// Reference data written by tools/make_image_fixtures.py (Pillow 13 + torchvision).
struct ImageReferences: Decodable {
    struct Entry: Decodable {
        let file: String
        let width: Int
        let height: Int
        let rgb_sha256: String
        let crop_sha256: String
        let channel_sums: [Double]
        let sample_stride: Int
        let samples: [Float]
        let rgb_base64: String?
        let tensor_file: String?
    }
    struct Bad: Decodable {
        let file: String
        let pil: String
        let pil_error: String?
        let rgb_sha256: String?
    }
    let pillow: String
    let mean: [Float]
    let std: [Float]
    let seed: [Entry]
    let synthetic: [Entry]
    let bad: [Bad]
}

enum Fixtures {
    /// Tests/Fixtures/images
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/images")

    /// ../shared/seed/images beside the repository root (absent on some machines).
    static let seedDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/seed/images")

    static var seedAvailable: Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: seedDirectory.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    static func references() throws -> ImageReferences {
        let data = try Data(contentsOf: directory.appendingPathComponent("references.json"))
        return try JSONDecoder().decode(ImageReferences.self, from: data)
    }

    static func path(_ relative: String) -> String { directory.appendingPathComponent(relative).path }
    static func seedPath(_ relative: String) -> String { seedDirectory.appendingPathComponent(relative).path }

    static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(relative)))
    }

    static func floats(_ relative: String) throws -> [Float] {
        let data = try Data(contentsOf: directory.appendingPathComponent(relative))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }
}
