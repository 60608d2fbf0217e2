import ClipCap
import Foundation
import Metrics
import Prometheus

/// The service's metrics, through swift-metrics into a Prometheus registry of its own (not
/// the process-wide `MetricsSystem`, so several servers can live in one process, as in tests).
/// `GET /metrics` renders `text()`.
final class ServerMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let latency: Metrics.Timer
    private let queueWaitTimer: Metrics.Timer
    private let batchSizes: Metrics.Recorder
    private let images: Metrics.Counter
    private let queueFullRejections: Metrics.Counter
    private let queueDepth: Metrics.Gauge
    private let residentBytes: Metrics.Gauge
    private let imagesPerSecond: Metrics.Gauge
    private let lock = NSLock()
    private var statusCounters: [String: Metrics.Counter] = [:]
    /// (time, images) of recent batches, for `recentImagesPerSecond`.
    private var recentBatches: [(nanos: UInt64, images: Int)] = []
    private static let window: UInt64 = 10_000_000_000

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        let seconds: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                                   .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
                                   .seconds(5), .seconds(10), .seconds(30), .seconds(60)]
        factory.durationHistogramBuckets = ["clipcap_request_duration_seconds": seconds, "clipcap_queue_wait_seconds": seconds]
        factory.valueHistogramBuckets = ["clipcap_batch_size": [1, 2, 4, 8, 16, 32, 64, 128]]
        self.factory = factory
        latency = Metrics.Timer(label: "clipcap_request_duration_seconds", factory: factory)
        queueWaitTimer = Metrics.Timer(label: "clipcap_queue_wait_seconds", factory: factory)
        batchSizes = Metrics.Recorder(label: "clipcap_batch_size", factory: factory)
        images = Metrics.Counter(label: "clipcap_images_captioned_total", factory: factory)
        queueFullRejections = Metrics.Counter(label: "clipcap_queue_full_rejections_total", factory: factory)
        queueDepth = Metrics.Gauge(label: "clipcap_queue_depth", factory: factory)
        residentBytes = Metrics.Gauge(label: "clipcap_process_resident_memory_bytes", factory: factory)
        imagesPerSecond = Metrics.Gauge(label: "clipcap_images_per_second", factory: factory)
    }

    /// One answered request of any route: counted by route and status, its latency recorded.
    func request(route: String, status: Int, nanos: UInt64) {
        let key = "\(route) \(status)"
        lock.lock()
        let counter: Metrics.Counter
        if let existing = statusCounters[key] {
            counter = existing
        } else {
            counter = Metrics.Counter(label: "clipcap_http_requests_total", dimensions: [("route", route), ("status", String(status))], factory: factory)
            statusCounters[key] = counter
        }
        lock.unlock()
        counter.increment()
        if route == "/v1/captions" { latency.recordNanoseconds(Int64(clamping: nanos)) }
    }

    func queueWait(nanos: UInt64) { queueWaitTimer.recordNanoseconds(Int64(clamping: nanos)) }
    func setQueueDepth(_ depth: Int) { queueDepth.record(depth) }
    func rejectedQueueFull() { queueFullRejections.increment() }

    /// A batch of `size` images left the engine.
    func batchDone(size: Int) {
        batchSizes.record(size)
        images.increment(by: size)
        let now = DispatchTime.now().uptimeNanoseconds
        lock.lock()
        recentBatches.append((now, size))
        recentBatches.removeAll { now - $0.nanos > Self.window }
        lock.unlock()
    }

    /// Images captioned per second over the last 10 seconds.
    var recentImagesPerSecond: Double {
        let now = DispatchTime.now().uptimeNanoseconds
        lock.lock(); defer { lock.unlock() }
        let recent = recentBatches.filter { now - $0.nanos <= Self.window }
        return Double(recent.reduce(0) { $0 + $1.images }) / (Double(Self.window) / 1e9)
    }

    /// The Prometheus text exposition, with the memory and rate gauges read now.
    func text() -> [UInt8] {
        residentBytes.record(ProcessMemory.current().residentMiB * 1024 * 1024)
        imagesPerSecond.record(recentImagesPerSecond)
        return registry.emitToBuffer()
    }
}
