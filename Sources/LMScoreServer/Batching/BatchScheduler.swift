import Dispatch
import Foundation
import LMScoreEngine

/// Why a request was not scored. Mapped to HTTP statuses in one place (`APIError+Server.swift`).
public enum SchedulingError: Error, Equatable {
    /// The queue holds too many tokens (429); retry after roughly this many seconds.
    case overloaded(retryAfter: Int)
    /// The server is shutting down (503).
    case draining
    /// The request waited longer than `request_timeout` for its batch (504).
    case timedOut(waited: Double)
    /// The request's task was cancelled (its client hung up) before its forward pass began: its rows
    /// were taken out of the queue, or never entered it.
    case cancelled
}

/// What a scored request learns about how it was served.
public struct ScheduledResult: Sendable {
    public let result: ScoringResult
    /// Seconds between arrival and the start of its forward pass.
    public let queueSeconds: Double
    /// Requests that shared its batch (itself included).
    public let batchRequests: Int
}

/// Owns the queue of scoring requests and turns them into batches: one batch runs at a time, on a
/// dedicated thread (BLAS work never blocks Swift's cooperative pool); requests that arrive meanwhile
/// wait, and when the batch ends the queued requests — up to `maxBatchTokens` — form the next one.
/// An idle scheduler starts a batch at once (no fixed delay, like Triton's default dynamic batcher).
/// Every submitted request is answered exactly once: with its result or with a `SchedulingError`.
/// A request whose task is cancelled while it waits leaves the queue at once and is never scored; once
/// its forward pass has begun, the pass runs to the end (the other rows of the batch need it).
///
/// Several models: one queue per model (or model and reference, for comparisons), served round-robin
/// (`ModelQueues`), so one model's load never starves another's requests; one forward pass at a time
/// across all models (they share the CPU).
public actor BatchScheduler {
    struct Pending {
        let id: UInt64
        let request: ScoringRequest
        let tokens: Int
        let arrival: ContinuousClock.Instant
        /// Where the forward thread leaves the result before resuming `continuation` (see `Handoff`).
        let handoff: Handoff<ScheduledResult>
        let continuation: CheckedContinuation<Void, any Error>
    }

    /// The served models by name, the first being the default.
    private let scorers: [String: Scorer]
    private let defaultModel: String
    private let maxBatchTokens: Int
    private let maxQueuedTokens: Int
    private let requestTimeout: Double
    private let metrics: ServerMetrics?
    private let forwardQueue = DispatchQueue(label: "lmscore.forward", qos: .userInitiated)

    private var queue = ModelQueues<Pending>()
    private var nextID: UInt64 = 0
    private var queuedTokens = 0
    private var running = false
    private var draining = false
    /// Smoothed seconds per token of recent batches, for Retry-After.
    private var secondsPerToken = 0.002

    public init(scorer: Scorer, maxBatchTokens: Int, maxQueuedTokens: Int, requestTimeout: Double, metrics: ServerMetrics? = nil) {
        self.init(scorers: [(scorer.model.name, scorer)], maxBatchTokens: maxBatchTokens, maxQueuedTokens: maxQueuedTokens,
                  requestTimeout: requestTimeout, metrics: metrics)
    }

    /// `scorers`: each served model by name, the first being the default.
    public init(scorers: [(name: String, scorer: Scorer)], maxBatchTokens: Int, maxQueuedTokens: Int, requestTimeout: Double,
                metrics: ServerMetrics? = nil) {
        precondition(!scorers.isEmpty, "a scheduler serves at least one model")
        self.scorers = Dictionary(scorers.map { ($0.name, $0.scorer) }, uniquingKeysWith: { first, _ in first })
        defaultModel = scorers[0].name
        self.maxBatchTokens = maxBatchTokens
        self.maxQueuedTokens = maxQueuedTokens
        self.requestTimeout = requestTimeout
        self.metrics = metrics
    }

    /// Queues a validated request for `model` (nil: the default), compared with `reference` when given
    /// (both served names, comparable: the API's catalog checked them), and waits for its batch. Throws
    /// `.cancelled` when the calling task is cancelled before the batch begins.
    public func submit(_ request: ScoringRequest, model: String? = nil, reference: String? = nil) async throws -> ScheduledResult {
        let key = ModelKey(model: model ?? defaultModel, reference: reference)
        precondition(scorers[key.model] != nil && (reference.map { scorers[$0] != nil } ?? true), "unknown model in \(key)")
        guard !draining else { throw SchedulingError.draining }
        guard !Task.isCancelled else { throw SchedulingError.cancelled }
        let tokens = request.tokenCount
        // A request larger than the whole queue is still admitted when the queue is empty, so any
        // request that passed validation can be served.
        if queuedTokens > 0 && queuedTokens + tokens > maxQueuedTokens {
            let wait = Double(queuedTokens) * secondsPerToken
            throw SchedulingError.overloaded(retryAfter: max(1, Int(wait.rounded(.up))))
        }
        let handoff = Handoff<ScheduledResult>()
        nextID += 1
        let id = nextID
        // The cancellation handler may run on any thread, before or after the request is queued; the
        // withdrawal it sends is an actor call, so it is handled after the append below either way.
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queue.append(Pending(id: id, request: request, tokens: tokens, arrival: .now, handoff: handoff, continuation: continuation),
                             key: key)
                queuedTokens += tokens
                metrics?.queueDepth.record(queue.count)
                startNextBatchIfIdle()
            }
        } onCancel: {
            Task { await self.withdraw(id) }
        }
        return handoff.take()
    }

    /// Takes a request out of the queue if it is still there (its batch has not begun) and answers
    /// it `.cancelled`.
    private func withdraw(_ id: UInt64) {
        guard let pending = queue.remove(where: { $0.id == id }) else { return }
        queuedTokens -= pending.tokens
        metrics?.queueDepth.record(queue.count)
        pending.continuation.resume(throwing: SchedulingError.cancelled)
    }

    /// The drain's deadline passed: every queued request, and any submitted from now on, is answered
    /// `.draining` (they were answered 503 already, so scoring them would be work nobody reads). A running
    /// batch ends as usual.
    public func dropQueued() {
        draining = true
        let dropped = queue.removeAll()
        queuedTokens = 0
        metrics?.queueDepth.record(0)
        for pending in dropped { pending.continuation.resume(throwing: SchedulingError.draining) }
    }

    public var queueLength: Int { queue.count }

    private func startNextBatchIfIdle() {
        guard !running else { return }
        var taken: [Pending] = []
        var budget = BatchBudget(maxTokens: maxBatchTokens)
        let now = ContinuousClock.Instant.now
        // From the next model's queue in turn: its requests in order while they fit; timed-out ones answered 504.
        let served = queue.takeBatch { next in
            guard budget.admits(next.tokens) else { return (accept: false, batched: false) }
            queuedTokens -= next.tokens
            let waited = seconds(now - next.arrival)
            if waited > requestTimeout {
                next.continuation.resume(throwing: SchedulingError.timedOut(waited: waited))
                return (accept: true, batched: false)
            }
            taken.append(next)
            budget.add(next.tokens)
            return (accept: true, batched: true)
        }
        metrics?.queueDepth.record(queue.count)
        guard let served, !taken.isEmpty else { return }
        running = true
        let (batch, tokens) = (taken, budget.tokens)
        let scorer = scorers[served.model]!
        let reference = served.reference.map { scorers[$0]! }
        let metrics = self.metrics
        let requests = batch.map(\.request)
        metrics?.forwardTokens.record(tokens)
        forwardQueue.async {
            let start = ContinuousClock.Instant.now
            let results = reference.map { scorer.compare(batch: requests, reference: $0) } ?? scorer.score(batch: requests)
            let elapsed = seconds(.now - start)
            metrics?.forwardTokens.record(0)
            metrics?.forwardDuration.recordSeconds(elapsed)
            metrics?.batchRequests.record(batch.count)
            metrics?.batchTokens.record(tokens)
            metrics?.prefixCache.record(scorer.prefixCache.statistics, model: served.model)
            for (pending, result) in zip(batch, results) {
                metrics?.tokensScored.increment(by: Int64(result.batch.scoredTokens))
                let queued = seconds(start - pending.arrival)
                metrics?.queueDuration.recordSeconds(queued)
                pending.handoff.put(ScheduledResult(result: result, queueSeconds: queued, batchRequests: batch.count))
                pending.continuation.resume()
            }
            Task { await self.batchFinished(tokens: tokens, seconds: elapsed) }
        }
    }

    private func batchFinished(tokens: Int, seconds elapsed: Double) {
        running = false
        secondsPerToken = 0.8 * secondsPerToken + 0.2 * elapsed / Double(max(tokens, 1))
        startNextBatchIfIdle()
    }
}

func seconds(_ duration: Duration) -> Double {
    let (s, attoseconds) = duration.components
    return Double(s) + Double(attoseconds) * 1e-18
}
