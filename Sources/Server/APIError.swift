import Foundation
import Hummingbird
import NIOCore

/// An error the service answers with: an HTTP status and the JSON body
/// `{"error": {"code": ..., "message": ...}}` (docs/openapi.yaml, `Error`).
public struct APIError: Error, Sendable, CustomStringConvertible {
    /// HTTP status of the response.
    public var status: HTTPResponse.Status
    /// Stable, machine-readable reason (`bad_option`, `body_too_large`, ...).
    public var code: String
    /// What is wrong and what to do, for a person.
    public var message: String
    /// Seconds a client should wait before retrying (429, 503), sent as `Retry-After`.
    public var retryAfterSeconds: Int?
    /// Close the connection after answering (the rest of the request body is not wanted).
    public var closeConnection = false

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    static func badOption(_ message: String) -> APIError { APIError(.badRequest, code: "bad_option", message) }
    static func unauthorized() -> APIError {
        APIError(.unauthorized, code: "unauthorized", "missing or wrong bearer token: send the header 'Authorization: Bearer <token>' with the token of --token-file")
    }
    static func bodyTooLarge(limit: Int) -> APIError {
        var e = APIError(.contentTooLarge, code: "body_too_large", "the request body is over the limit of \(limit) bytes (--max-body-bytes); send a smaller image")
        e.closeConnection = true
        return e
    }
    static func unsupportedMediaType(_ message: String) -> APIError { APIError(.unsupportedMediaType, code: "unsupported_media_type", message) }
    static func unprocessable(code: String, _ message: String) -> APIError { APIError(.unprocessableContent, code: code, message) }
    static func queueFull(depth: Int, retryAfter: Int) -> APIError {
        APIError(.tooManyRequests, code: "queue_full", "\(depth) images are already waiting (--max-queue); retry after \(retryAfter) s", retryAfterSeconds: retryAfter)
    }
    static func unavailable(_ message: String, retryAfter: Int = 1) -> APIError {
        APIError(.serviceUnavailable, code: "unavailable", message, retryAfterSeconds: retryAfter)
    }
    static func timeout(seconds: Double) -> APIError {
        APIError(.gatewayTimeout, code: "timeout", "the caption took longer than the server's limit of \(seconds) s (--timeout); retry later or with lighter options")
    }

    /// The JSON response.
    func response(requestID: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.init("X-Request-Id")!] = requestID
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        if closeConnection { headers[.connection] = "close" }
        let body = ErrorBody(error: .init(code: code, message: message))
        return Response(status: status, headers: headers, body: .init(byteBuffer: JSONBody.encode(body)))
    }
}

/// `{"error": {"code", "message"}}`.
struct ErrorBody: Codable {
    struct Detail: Codable { var code: String; var message: String }
    var error: Detail
}

/// The one JSON style of the service's bodies: sorted keys, no escaped slashes.
enum JSONBody {
    static func encode(_ value: some Encodable) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        data.append(0x0a)
        return ByteBuffer(bytes: data)
    }
}
