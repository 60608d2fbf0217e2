import Engine
import Foundation

/// Runs a shard's items through `CaptionModel.captionStream` and hands every record, in input
/// order, to `record` on one thread: images are captioned (batched as the engine allows),
/// failure items pass straight through in their place.
public enum BulkRunner {
    /// Blocks until every item is recorded or `record` throws (that error is rethrown: a
    /// failure to write the output stops the run, a failure to caption never does).
    public static func run(model: CaptionModel, items: ShardItems, options: DecodingOptions, batchSize: Int? = nil,
                           record: @escaping @Sendable (BulkRecord) throws -> Void) throws {
        let ledger = Ledger()
        let requests = LedgerRequests(items: items, options: options, ledger: ledger)
        let stream = model.captionStream(requests, batchSize: batchSize)
        let done = DispatchSemaphore(value: 0)
        let failure = ErrorBox()
        Task.detached {
            do {
                for await outcome in stream {
                    for passed in ledger.failures(before: outcome.index) { try record(passed) }
                    let (key, file) = ledger.identity(of: outcome.index)
                    switch outcome.result {
                    case .success(let result) where result.captions.contains(where: { !$0.score.isFinite }):
                        try record(BulkRecord(key: key, file: file, error: "\(file): the model produced a non-finite score (NaN or infinity); its captions cannot be trusted"))
                    case .success(let result): try record(BulkRecord(key: key, file: file, captions: result.captions))
                    case .failure(let error): try record(BulkRecord(key: key, file: file, error: describe(error, file: file)))
                    }
                }
                for passed in ledger.failures(before: Int.max) { try record(passed) }
            } catch {
                failure.set(error)
            }
            done.signal()
        }
        done.wait()
        if let error = failure.value { throw error }
    }

    /// The message for one image: most engine errors already start with the path; name it once either way.
    public static func describe(_ error: Error, file: String) -> String {
        let text = "\(error)"
        return text.hasPrefix(file) ? text : "\(file): \(text)"
    }
}

/// What the request sequence learned while the stream pulled from it: the identity of each
/// request and the failure items met between requests, for the consumer to put back in order.
final class Ledger: @unchecked Sendable {
    private let lock = NSLock()
    private var identities: [Int: (String, String)] = [:]
    /// Failure items, each with the index of the request it came before.
    private var pending: [(before: Int, record: BulkRecord)] = []

    func note(request index: Int, key: String, file: String) {
        lock.lock(); identities[index] = (key, file); lock.unlock()
    }

    func note(failure record: BulkRecord, before index: Int) {
        lock.lock(); pending.append((index, record)); lock.unlock()
    }

    /// Removes and returns the key and file of request `index`.
    func identity(of index: Int) -> (String, String) {
        lock.lock(); defer { lock.unlock() }
        return identities.removeValue(forKey: index) ?? ("", "")
    }

    /// Removes and returns the failure items that came before request `index`, in order.
    func failures(before index: Int) -> [BulkRecord] {
        lock.lock(); defer { lock.unlock() }
        let count = pending.prefix { $0.before <= index }.count
        let out = pending.prefix(count).map(\.record)
        pending.removeFirst(count)
        return out
    }
}

/// The shard's items as caption requests; failure items go to the ledger instead.
struct LedgerRequests: Sequence, Sendable {
    let items: ShardItems
    let options: DecodingOptions
    let ledger: Ledger

    func makeIterator() -> Iterator { Iterator(base: items.makeIterator(), options: options, ledger: ledger) }

    struct Iterator: IteratorProtocol {
        var base: ShardItems.Iterator
        let options: DecodingOptions
        let ledger: Ledger
        var nextIndex = 0

        mutating func next() -> CaptionRequest? {
            while let item = base.next() {
                switch item.payload {
                case .failure(let message):
                    ledger.note(failure: BulkRecord(key: item.key, file: item.file, error: message), before: nextIndex)
                case .image(let source):
                    ledger.note(request: nextIndex, key: item.key, file: item.file)
                    nextIndex += 1
                    return CaptionRequest(source, options: options)
                }
            }
            return nil
        }
    }
}

/// An error set from the consumer task, read after it ends.
final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?
    func set(_ e: Error) { lock.lock(); error = e; lock.unlock() }
    var value: Error? { lock.lock(); defer { lock.unlock() }; return error }
}
