import Foundation
import Hummingbird
import Logging

/// The outermost middleware: turns every error into the JSON error body, counts the request in
/// the metrics and writes the one access-log line per request (id, method, path, status,
/// response bytes, latency), as structured swift-log metadata.
struct AccessLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let id = context.id
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = error.response(requestID: id)
        } catch let error as HTTPError {
            // The router's own errors (404, 405): the same JSON shape as ours.
            let code = error.status == .notFound ? "not_found" : error.status == .methodNotAllowed ? "method_not_allowed" : "http_error"
            let message = error.status == .notFound ? "no route \(request.method) \(request.uri.path); see docs/openapi.yaml" : (error.body ?? error.status.reasonPhrase)
            response = APIError(error.status, code: code, message).response(requestID: id)
        } catch is CancellationError {
            response = APIError.unavailable("the request was cancelled (client gone or server stopping)").response(requestID: id)
        } catch {
            response = APIError(.internalServerError, code: "internal", "\(error)").response(requestID: id)
        }
        response.headers[.init("X-Request-Id")!] = id
        let nanos = DispatchTime.now().uptimeNanoseconds - start
        let route = Self.route(of: request.uri.path)
        metrics.request(route: route, status: Int(response.status.code), nanos: nanos)
        logger.info("request", metadata: [
            "id": .string(id),
            "method": .string(request.method.rawValue),
            "path": .string(request.uri.path),
            "status": .stringConvertible(response.status.code),
            "bytes": .stringConvertible(response.body.contentLength ?? 0),
            "latency_ms": .string(String(format: "%.1f", Double(nanos) / 1e6)),
        ])
        return response
    }

    /// The metrics label of a path: one of the service's routes, or `other` (unbounded
    /// label values would grow the registry with every mistyped URL).
    static func route(of path: String) -> String {
        ["/v1/captions", "/healthz", "/readyz", "/metrics"].contains(path) ? path : "other"
    }
}

/// Bearer-token authentication (`--token-file`) for every route but the probes and metrics,
/// which orchestrators call without credentials. The token is compared in constant time.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]
    static var openPaths: Set<String> { ["/healthz", "/readyz", "/metrics"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.openPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer "),
              constantTimeEqual(Array(header.utf8.dropFirst(7)), token) else {
            throw APIError.unauthorized()
        }
        return try await next(request, context)
    }
}

/// Whether `a == b`, in time that depends only on the lengths (no early exit on the first
/// differing byte, which would let a client find the token byte by byte).
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
    let n = max(a.count, b.count)
    for i in 0..<n {
        let x = i < a.count ? a[i] : 0
        let y = i < b.count ? b[i] : 0
        difference |= x ^ y
    }
    return difference == 0 && a.count == b.count
}
