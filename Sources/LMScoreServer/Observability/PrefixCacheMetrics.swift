import CoreMetrics
import Foundation
import LMScoreEngine
import Prometheus

/// The prefix cache's metrics: the cache keeps running totals (`PrefixCache.Statistics`); after each
/// batch the scheduler hands them here and the counters advance by what changed since the last batch.
///   lmscore_prefix_cache_hit_tokens_total     token positions a forward pass found cached
///   lmscore_prefix_cache_miss_tokens_total    token positions a forward pass computed
///   lmscore_prefix_cache_evictions_total      nodes evicted to make room
///   lmscore_prefix_cache_evicted_tokens_total token positions those nodes held
///   lmscore_prefix_cache_bytes                bytes held now (gauge)
///   lmscore_prefix_cache_budget_bytes         the setting (gauge)
final class PrefixCacheMetrics: Sendable {
    private let hitTokens: CoreMetrics.Counter
    private let missTokens: CoreMetrics.Counter
    private let evictions: CoreMetrics.Counter
    private let evictedTokens: CoreMetrics.Counter
    private let bytes: CoreMetrics.Gauge
    private let budget: CoreMetrics.Gauge
    /// Each model's statistics when last recorded (each model has its own cache; the metrics are their sums).
    private let last = Locked<[String: PrefixCache.Statistics]>([:])

    init(factory: PrometheusMetricsFactory) {
        hitTokens = factory.counter("lmscore_prefix_cache_hit_tokens_total")
        missTokens = factory.counter("lmscore_prefix_cache_miss_tokens_total")
        evictions = factory.counter("lmscore_prefix_cache_evictions_total")
        evictedTokens = factory.counter("lmscore_prefix_cache_evicted_tokens_total")
        bytes = factory.gauge("lmscore_prefix_cache_bytes")
        budget = factory.gauge("lmscore_prefix_cache_budget_bytes")
        bytes.record(0)
    }

    /// Called after each batch with the statistics of the model that ran it (one batch at a time).
    func record(_ now: PrefixCache.Statistics, model: String) {
        let (before, all) = last.withLock { last in
            let before = last[model] ?? PrefixCache.Statistics(budgetBytes: now.budgetBytes)
            last[model] = now
            return (before, Array(last.values))
        }
        hitTokens.increment(by: Int64(now.hitTokens - before.hitTokens))
        missTokens.increment(by: Int64(now.missTokens - before.missTokens))
        evictions.increment(by: Int64(now.evictions - before.evictions))
        evictedTokens.increment(by: Int64(now.evictedTokens - before.evictedTokens))
        bytes.record(all.reduce(0) { $0 + $1.bytes })
        budget.record(all.reduce(0) { $0 + $1.budgetBytes })
    }
}
