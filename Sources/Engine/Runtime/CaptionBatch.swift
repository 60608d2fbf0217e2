import Foundation
import ImageIO

/// One image to caption and how to decode it: the unit of the batch and streaming calls.
public struct CaptionRequest: Sendable {
    /// Where the image comes from.
    public enum Source: Sendable {
        /// A JPEG or PNG file on disk.
        case file(path: String)
        /// Encoded JPEG or PNG bytes; `name` is used in errors and results.
        case encoded(bytes: [UInt8], name: String)
        /// Decoded RGB pixels; `name` is used in errors and results.
        case pixels(RGBImage, name: String)
    }

    public var source: Source
    public var options: DecodingOptions

    public init(_ source: Source, options: DecodingOptions = DecodingOptions()) {
        self.source = source
        self.options = options
    }

    /// A file on disk, decoded with `options`.
    public static func file(_ path: String, options: DecodingOptions = DecodingOptions()) -> CaptionRequest {
        CaptionRequest(.file(path: path), options: options)
    }

    /// The name errors and results carry: the path, or the name given with the bytes or pixels.
    public var name: String {
        switch source {
        case .file(let path): return path
        case .encoded(_, let name), .pixels(_, let name): return name
        }
    }
}

/// The result of one request of a batch or stream: in the order the requests were given.
public struct CaptionOutcome: Sendable {
    /// Position of the request in the input sequence (0-based).
    public var index: Int
    /// `CaptionRequest.name` of the request.
    public var name: String
    /// The captions, or why this one image could not be captioned (one bad image never stops
    /// the others).
    public var result: Result<CaptionResult, any Error>
}

extension CaptionModel {
    /// Captions every request, with images batched through the engine where the model allows;
    /// one failure is that request's error, never the others'. Results are in request order.
    /// `batchSize`: images in flight at once (`nil`: the engine's choice for this model).
    public func captions(for requests: [CaptionRequest], batchSize: Int? = nil) -> [CaptionOutcome] {
        requests.enumerated().map { i, request in
            CaptionOutcome(index: i, name: request.name, result: Result { try caption(request) })
        }
    }

    /// Captions image files with the same options; results in the order of `paths`.
    public func captions(for paths: [String], options: DecodingOptions = DecodingOptions(),
                         batchSize: Int? = nil) -> [CaptionOutcome] {
        captions(for: paths.map { CaptionRequest.file($0, options: options) }, batchSize: batchSize)
    }

    /// Captions a sequence of requests of any length as a stream of outcomes in input order,
    /// with bounded memory: at most a few batches of images are decoded ahead of the consumer.
    public func captionStream<S: Sequence & Sendable>(_ requests: S, batchSize: Int? = nil) -> CaptionStream
    where S.Element == CaptionRequest {
        CaptionStream(model: self, requests: requests, batchSize: batchSize)
    }

    /// Captions one request on the one-image path.
    func caption(_ request: CaptionRequest) throws -> CaptionResult {
        switch request.source {
        case .file(let path): return try caption(imageAt: path, options: request.options)
        case .encoded(let bytes, let name): return try caption(encodedImage: bytes, name: name, options: request.options)
        case .pixels(let image, _): return try caption(image: image, options: request.options)
        }
    }
}

/// Outcomes of `CaptionModel.captionStream`, in input order. The work runs on a thread of its
/// own and stays at most `lookahead` outcomes ahead of the consumer.
public struct CaptionStream: AsyncSequence, Sendable {
    public typealias Element = CaptionOutcome
    private let stream: AsyncStream<CaptionOutcome>
    private let credits: DispatchSemaphore

    init<S: Sequence & Sendable>(model: CaptionModel, requests: S, batchSize: Int?) where S.Element == CaptionRequest {
        let lookahead = Swift.max(2, 2 * (batchSize ?? model.options.maxBatch))
        let credits = DispatchSemaphore(value: lookahead)
        self.credits = credits
        stream = AsyncStream(bufferingPolicy: .unbounded) { continuation in
            let cancelled = CancelFlag()
            continuation.onTermination = { _ in cancelled.set(); credits.signal() }
            let worker = Thread {
                for (i, request) in requests.enumerated() {
                    credits.wait()
                    if cancelled.isSet { break }
                    let result = Result { try model.caption(request) }
                    continuation.yield(CaptionOutcome(index: i, name: request.name, result: result))
                }
                continuation.finish()
            }
            worker.start()
        }
    }

    public func makeAsyncIterator() -> Iterator { Iterator(base: stream.makeAsyncIterator(), credits: credits) }

    public struct Iterator: AsyncIteratorProtocol {
        var base: AsyncStream<CaptionOutcome>.Iterator
        let credits: DispatchSemaphore

        public mutating func next() async -> CaptionOutcome? {
            let outcome = await base.next()
            if outcome != nil { credits.signal() }
            return outcome
        }
    }
}

/// A flag set once from any thread.
final class CancelFlag: @unchecked Sendable {
    private var value = false
    private let lock = NSLock()
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
