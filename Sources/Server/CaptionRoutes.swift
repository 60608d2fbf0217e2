import ClipCap
import Foundation
import Hummingbird
import NIOCore

/// Whether the server takes new work: false from the first drain signal on (`/readyz` 503).
final class Readiness: @unchecked Sendable {
    private let lock = NSLock()
    private var draining = false
    var isDraining: Bool { lock.lock(); defer { lock.unlock() }; return draining }
    func startDraining() { lock.lock(); draining = true; lock.unlock() }
}

/// The service's four routes (docs/openapi.yaml).
struct CaptionRoutes<Context: RequestContext>: Sendable {
    let model: CaptionModel
    let modelInfo: CaptionResponse.Model
    let configuration: CaptionServerConfiguration
    let scheduler: BatchScheduler
    let metrics: ServerMetrics
    let readiness: Readiness

    func add(to router: Router<Context>) {
        router.get("/healthz") { _, _ in jsonResponse(["status": "ok"]) }
        router.get("/readyz") { _, _ in
            if readiness.isDraining { throw APIError.unavailable("draining: the server is shutting down and takes no new requests") }
            return jsonResponse(["status": "ready"])
        }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: metrics.text())))
        }
        router.post("/v1/captions") { request, context in try await caption(request, id: context.id) }
    }

    private func caption(_ request: Request, id: String) async throws -> Response {
        // No draining check here: a request that reached the handler is in flight and is served
        // (the drain closes the listener; new connections are refused, not answered 503).
        let start = ContinuousClock.now
        let query = request.uri.queryParameters.map { (name: String($0.key), value: String($0.value)) }
        let options = try CaptionQuery.decodingOptions(query, maxCandidates: model.options.maxBatch, maxTokens: model.options.maxTokens)
        let bytes = try await ImageBody.read(request, limit: configuration.maxBodyBytes)

        let decodeStart = ContinuousClock.now
        let image = try decodeImage(bytes, name: "request \(id)")
        let decodeMs = (ContinuousClock.now - decodeStart).milliseconds

        let remaining = Duration.seconds(configuration.timeoutSeconds) - (ContinuousClock.now - start)
        guard remaining > .zero else { throw APIError.timeout(seconds: configuration.timeoutSeconds) }
        let scheduled: ScheduledCaption
        do {
            scheduled = try await scheduler.caption(CaptionRequest(.pixels(image, name: "request \(id)"), options: options), timeout: remaining)
        } catch let error as ImageError {
            throw Self.apiError(for: error)
        } catch let error as APIError where error.status == .gatewayTimeout {
            throw APIError.timeout(seconds: configuration.timeoutSeconds)  // the limit, not what was left of it
        }
        let body = CaptionResponse(id: id, scheduled: scheduled, decodeImageMs: decodeMs,
                                   requestMs: (ContinuousClock.now - start).milliseconds, model: modelInfo)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: JSONBody.encode(body)))
    }

    /// Decodes with the server's pixel limit; the limit is checked from the header, before
    /// any pixel memory is allocated.
    private func decodeImage(_ bytes: [UInt8], name: String) throws -> RGBImage {
        do {
            return try ImageDecoder.decode(data: bytes, name: name,
                                           limits: ImageLimits(maxPixels: configuration.maxPixels, maxFileBytes: configuration.maxBodyBytes))
        } catch let error as ImageError {
            throw Self.apiError(for: error)
        }
    }

    /// 415 for bytes that are not a JPEG or PNG; 422 for an image that cannot be captioned.
    static func apiError(for error: ImageError) -> APIError {
        switch error {
        case .unrecognizedFormat, .unsupported:
            return .unsupportedMediaType("\(error)")
        case .tooManyPixels:
            return .unprocessable(code: "too_many_pixels", "\(error) (the server's limit is --max-pixels)")
        default:
            return .unprocessable(code: "undecodable_image", "\(error)")
        }
    }
}

/// A small JSON object response.
func jsonResponse(_ object: [String: String], status: HTTPResponse.Status = .ok) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: JSONBody.encode(object)))
}

extension Duration {
    /// The duration in milliseconds.
    var milliseconds: Double { seconds * 1000 }
}
