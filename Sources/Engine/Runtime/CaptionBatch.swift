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
    /// `batchSize`: images in flight at once (`nil`: `LoadOptions.batchSize`; at most
    /// `decoderRows`). Captions are the ones the one-image path gives, whatever the batch.
    public func captions(for requests: [CaptionRequest], batchSize: Int? = nil) -> [CaptionOutcome] {
        var outcomes = [CaptionOutcome?](repeating: nil, count: requests.count)
        runBatched(requests, batchSize: batchSize, credits: nil, cancelled: CancelFlag()) { outcomes[$0.index] = $0 }
        return outcomes.enumerated().map { i, outcome in
            outcome ?? CaptionOutcome(index: i, name: requests[i].name, result: .failure(ExecutorError.capacityExceeded(detail: "the request was not run")))
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

    /// Captions a sequence of requests of any length, batched, calling `handler` with each
    /// outcome in input order on this thread as soon as it and those before it are done.
    /// Memory stays bounded: at most a few batches of images are decoded ahead.
    public func captions<S: Sequence & Sendable>(_ requests: S, batchSize: Int? = nil,
                                                 inOrder handler: (CaptionOutcome) -> Void)
    where S.Element == CaptionRequest {
        var order = InOrder()
        runBatched(requests, batchSize: batchSize, credits: nil, cancelled: CancelFlag()) { outcome in
            for ready in order.add(outcome) { handler(ready) }
        }
    }

    /// Captions one request on the one-image path.
    func caption(_ request: CaptionRequest) throws -> CaptionResult {
        switch request.source {
        case .file(let path): return try caption(imageAt: path, options: request.options)
        case .encoded(let bytes, let name): return try caption(encodedImage: bytes, name: name, options: request.options)
        case .pixels(let image, _): return try caption(image: image, options: request.options)
        }
    }

    /// The batch size in force for a call: the caller's, else the load options', within the
    /// decoder rows the sessions were planned for.
    func effectiveBatchSize(_ requested: Int?) -> Int { max(1, min(requested ?? options.batchSize, decoderRows)) }

    /// The pipeline: a thread decodes and preprocesses the requests into a bounded queue while
    /// this thread runs the batch engine on one session. `emit` gets outcomes as captions end
    /// (any order). `credits`: taken before each request is read (the stream's lookahead).
    func runBatched<S: Sequence & Sendable>(_ requests: S, batchSize: Int?, credits: DispatchSemaphore?,
                                            cancelled: CancelFlag, emit: (CaptionOutcome) -> Void)
    where S.Element == CaptionRequest {
        let batch = effectiveBatchSize(batchSize)
        let queue = BoundedQueue<BatchInput>(capacity: 2 * batch)
        let c = config
        let limits = options.imageLimits
        let producer = Thread {
            let preprocessor = CLIPPreprocessor(size: c.imageSize, mean: c.mean, std: c.std)
            for (i, request) in requests.enumerated() {
                credits?.wait()
                if cancelled.isSet || !queue.put(Self.prepare(request, index: i, preprocessor: preprocessor, limits: limits)) { break }
            }
            queue.close()
        }
        producer.start()
        do {
            try withSession { session in
                BatchDecoder(session: session, batchSize: batch).run(next: { queue.take(wait: $0) }, emit: emit)
            }
        } catch {
            // No session (out of memory?): every request gets the error.
            while case let item = queue.take(wait: true), !(item.isEnd) {
                switch item {
                case .image(let image): emit(CaptionOutcome(index: image.index, name: image.name, result: .failure(error)))
                case .done(let outcome): emit(outcome)
                default: break
                }
            }
        }
        queue.close()
        queue.drain()
    }

    /// Decodes and preprocesses one request (the pipeline's thread); a bad image is its outcome.
    static func prepare(_ request: CaptionRequest, index: Int, preprocessor: CLIPPreprocessor, limits: ImageLimits) -> BatchInput {
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let image: RGBImage
            var warnings: [String] = []
            switch request.source {
            case .file(let path): (image, warnings) = try ImageDecoder.decodeWithWarnings(path: path, limits: limits)
            case .encoded(let bytes, let name): (image, warnings) = try ImageDecoder.decodeWithWarnings(data: bytes, name: name, limits: limits)
            case .pixels(let pixels, _): image = pixels
            }
            let decoded = DispatchTime.now().uptimeNanoseconds
            let decodeMs = Double(decoded - start) / 1e6
            if request.options.captureIntermediates {
                return .image(PreparedImage(index: index, name: request.name, options: request.options, pixels: [],
                                            image: image, decodeImage: decodeMs, preprocess: 0, warnings: warnings))
            }
            let pixels = preprocessor.process(image)
            let done = DispatchTime.now().uptimeNanoseconds
            return .image(PreparedImage(index: index, name: request.name, options: request.options, pixels: pixels,
                                        image: nil, decodeImage: decodeMs, preprocess: Double(done - decoded) / 1e6, warnings: warnings))
        } catch {
            return .done(CaptionOutcome(index: index, name: request.name, result: .failure(error)))
        }
    }
}

extension BatchInput {
    var isEnd: Bool { if case .end = self { return true }; return false }
}

/// Outcomes of `CaptionModel.captionStream`, in input order. The work runs on threads of its
/// own (the pipeline's reader and the batch engine) and stays at most `lookahead` requests
/// ahead of the consumer.
public struct CaptionStream: AsyncSequence, Sendable {
    public typealias Element = CaptionOutcome
    private let stream: AsyncStream<CaptionOutcome>
    private let credits: DispatchSemaphore

    init<S: Sequence & Sendable>(model: CaptionModel, requests: S, batchSize: Int?) where S.Element == CaptionRequest {
        let batch = model.effectiveBatchSize(batchSize)
        let lookahead = Swift.max(2, 4 * batch)
        let credits = DispatchSemaphore(value: lookahead)
        self.credits = credits
        stream = AsyncStream(bufferingPolicy: .unbounded) { continuation in
            let cancelled = CancelFlag()
            continuation.onTermination = { _ in cancelled.set(); credits.signal() }
            let worker = Thread {
                var order = InOrder()
                model.runBatched(requests, batchSize: batch, credits: credits, cancelled: cancelled) { outcome in
                    for ready in order.add(outcome) { continuation.yield(ready) }
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

/// Puts outcomes that finish in any order back in input order.
struct InOrder {
    private var next = 0
    private var waiting: [Int: CaptionOutcome] = [:]

    /// Takes one outcome; returns those now ready, in order.
    mutating func add(_ outcome: CaptionOutcome) -> [CaptionOutcome] {
        waiting[outcome.index] = outcome
        var ready: [CaptionOutcome] = []
        while let o = waiting.removeValue(forKey: next) {
            ready.append(o)
            next += 1
        }
        return ready
    }
}

/// A first-in first-out queue of bounded size between two threads.
final class BoundedQueue<Element>: @unchecked Sendable {
    private var items: [Element] = []
    private var head = 0
    private var closed = false
    private let capacity: Int
    private let condition = NSCondition()

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Appends, waiting while the queue is full; false once the queue is closed.
    func put(_ item: Element) -> Bool {
        condition.lock(); defer { condition.unlock() }
        while items.count - head >= capacity && !closed { condition.wait() }
        guard !closed else { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    /// No more items will be put; waiting takers see the end.
    func close() {
        condition.lock(); defer { condition.unlock() }
        closed = true
        condition.broadcast()
    }

    /// Drops what is left.
    func drain() {
        condition.lock(); defer { condition.unlock() }
        items = []
        head = 0
        condition.broadcast()
    }

    /// The next item; with `wait`, waits for one or for the end.
    func take(wait: Bool) -> BatchInput where Element == BatchInput {
        condition.lock(); defer { condition.unlock() }
        while head == items.count {
            if closed { return .end }
            if !wait { return .notReady }
            condition.wait()
        }
        let item = items[head]
        head += 1
        if head > 64 && head * 2 > items.count { items.removeFirst(head); head = 0 }
        condition.broadcast()
        return item
    }
}

/// A flag set once from any thread.
final class CancelFlag: @unchecked Sendable {
    private var value = false
    private let lock = NSLock()
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
