import CoreMetrics
import Foundation
import Metrics
import Prometheus

/// The service's metrics, recorded through swift-metrics into a Prometheus registry owned by this
/// object (so several servers in one test process do not share counters), rendered by `GET /metrics`.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    let tokensScored: CoreMetrics.Counter
    let requestDuration: CoreMetrics.Timer
    let queueDuration: CoreMetrics.Timer
    let forwardDuration: CoreMetrics.Timer
    let batchRequests: CoreMetrics.Recorder
    let batchTokens: CoreMetrics.Recorder
    let queueDepth: CoreMetrics.Gauge
    /// Tokens in the forward pass running now, 0 while the model is idle (one batch runs at a time).
    let forwardTokens: CoreMetrics.Gauge
    /// Requests whose headers arrived and that have not ended yet (queued, scoring, or being sent).
    let requestsInFlight: CoreMetrics.Gauge
    /// Connections libmicrohttpd holds (idle keep-alive ones included); compare with `connection_limit`.
    let connectionsOpen: CoreMetrics.Gauge
    /// Connections closed at accept because `connection_limit` were open.
    let connectionsRefused: CoreMetrics.Counter
    /// Connections closed because their request headers were incomplete after `connection_timeout`.
    let headerTimeouts: CoreMetrics.Counter
    /// Bodies refused (429) before being read because `max_body_bytes_in_flight` was full.
    let bodiesRefused: CoreMetrics.Counter
    /// Bytes of request bodies held now (received, or received and not yet decoded).
    let bodyBytesInFlight: CoreMetrics.Gauge
    /// Requests whose client closed the connection before their forward pass: dropped, never scored.
    let requestsCancelled: CoreMetrics.Counter
    /// `lmscore_prefix_cache_*`: the scorer's prefix cache.
    let prefixCache: PrefixCacheMetrics

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets = [
            "lmscore_batch_requests": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
            "lmscore_batch_tokens": [16, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
        ]
        let fine: [Duration] = [.microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                                .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                                .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30)]
        factory.defaultDurationHistogramBuckets = fine
        self.factory = factory
        tokensScored = factory.counter("lmscore_tokens_scored_total")
        requestDuration = factory.timer("lmscore_request_duration_seconds")
        queueDuration = factory.timer("lmscore_queue_duration_seconds")
        forwardDuration = factory.timer("lmscore_forward_duration_seconds")
        batchRequests = factory.histogram("lmscore_batch_requests")
        batchTokens = factory.histogram("lmscore_batch_tokens")
        queueDepth = factory.gauge("lmscore_queue_depth")
        forwardTokens = factory.gauge("lmscore_forward_tokens")
        queueDepth.record(0)
        forwardTokens.record(0)
        requestsInFlight = factory.gauge("lmscore_http_requests_in_flight")
        connectionsOpen = factory.gauge("lmscore_http_connections_open")
        connectionsRefused = factory.counter("lmscore_http_connections_refused_total")
        headerTimeouts = factory.counter("lmscore_http_header_timeouts_total")
        bodiesRefused = factory.counter("lmscore_http_bodies_refused_total")
        bodyBytesInFlight = factory.gauge("lmscore_http_body_bytes_in_flight")
        bodyBytesInFlight.record(0)
        requestsCancelled = factory.counter("lmscore_requests_cancelled_total")
        prefixCache = PrefixCacheMetrics(factory: factory)
    }

    /// `lmscore_build_info{kernel}` = 1: which matrix-kernel path this process runs (avx512, avx2, portable).
    func recordKernel(_ path: String) {
        factory.gauge("lmscore_build_info", dimensions: [("kernel", path)]).record(1)
    }

    /// `lmscore_requests_total{status}`, one series per status code.
    func countRequest(status: Int) {
        factory.counter("lmscore_requests_total", dimensions: [("status", String(status))]).increment()
    }

    /// `lmscore_requests_unanswered_total{reason}`: requests that ended without their answer reaching
    /// the client (these are not in `lmscore_requests_total`, which counts delivered answers).
    func countUnanswered(_ reason: Unanswered) {
        factory.counter("lmscore_requests_unanswered_total", dimensions: [("reason", reason.rawValue)]).increment()
    }

    /// The Prometheus text exposition format.
    public func render() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
