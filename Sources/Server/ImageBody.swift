import Hummingbird
import MultipartKit
import NIOCore

/// Reads the image out of a `POST /v1/captions` body as it streams in, never holding more than
/// `limit` bytes: raw `image/jpeg` / `image/png` bytes, or the field `image` of a
/// `multipart/form-data` body (parsed incrementally by MultipartKit; other fields are skipped).
enum ImageBody {
    /// The encoded image bytes of `request`.
    /// - Throws: `APIError` 415 for another content type or a form without `image`, 413 as soon
    ///   as the body (declared or streamed) passes `limit` bytes, 400 for a broken form.
    static func read(_ request: Request, limit: Int) async throws -> [UInt8] {
        let contentType = request.headers[.contentType] ?? ""
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            throw APIError.bodyTooLarge(limit: limit)
        }
        switch mediaType {
        case "image/jpeg", "image/jpg", "image/png", "application/octet-stream":
            return try await readRaw(request.body, limit: limit)
        case "multipart/form-data":
            guard let boundary = parameter("boundary", of: contentType) else {
                throw APIError.badOption("multipart/form-data without a boundary parameter in Content-Type")
            }
            return try await readFormField("image", boundary: boundary, body: request.body, limit: limit)
        case "":
            throw APIError.unsupportedMediaType("no Content-Type: send the image as image/jpeg, image/png or the field 'image' of multipart/form-data")
        default:
            throw APIError.unsupportedMediaType("Content-Type \(mediaType) is not accepted: send image/jpeg, image/png or multipart/form-data with a field 'image'")
        }
    }

    private static func readRaw(_ body: RequestBody, limit: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await buffer in body {
            guard bytes.count + buffer.readableBytes <= limit else { throw APIError.bodyTooLarge(limit: limit) }
            bytes.append(contentsOf: buffer.readableBytesView)
        }
        return bytes
    }

    private static func readFormField(_ field: String, boundary: String, body: RequestBody, limit: Int) async throws -> [UInt8] {
        let collector = FormFieldCollector(field: field)
        let parser = MultipartParser(boundary: boundary)
        parser.onHeader = { name, value in collector.header(name: name, value: value) }
        parser.onBody = { buffer in collector.body(&buffer) }
        parser.onPartComplete = { collector.partComplete() }
        var total = 0
        for try await buffer in body {
            total += buffer.readableBytes
            guard total <= limit else { throw APIError.bodyTooLarge(limit: limit) }
            do { try parser.execute(buffer) } catch {
                throw APIError.badOption("the multipart/form-data body is malformed (\(error)); check the boundary and the parts")
            }
        }
        guard let image = collector.found else {
            throw APIError.unsupportedMediaType("the multipart/form-data body has no field 'image': send the image file in a field named 'image'")
        }
        return image
    }

    /// A parameter (`boundary=...`) of a header value, unquoted.
    static func parameter(_ name: String, of header: String) -> String? {
        for part in header.split(separator: ";").dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, pair[0].lowercased() == name else { continue }
            var value = pair[1]
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value.isEmpty ? nil : value
        }
        return nil
    }
}

/// Keeps the bytes of the first part named `field` and drops every other part's.
private final class FormFieldCollector {
    let field: String
    private var inField = false
    private var bytes: [UInt8] = []
    private(set) var found: [UInt8]?

    init(field: String) { self.field = field }

    func header(name: String, value: String) {
        guard name.lowercased() == "content-disposition" else { return }
        inField = found == nil && ImageBody.parameter("name", of: value) == field
    }

    func body(_ buffer: inout ByteBuffer) {
        if inField { bytes.append(contentsOf: buffer.readableBytesView) }
    }

    func partComplete() {
        if inField { found = bytes }
        inField = false
        bytes = []
    }
}
