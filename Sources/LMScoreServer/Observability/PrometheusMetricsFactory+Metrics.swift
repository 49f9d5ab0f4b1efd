import CoreMetrics
import Prometheus

/// The metrics `ServerMetrics` and `PrefixCacheMetrics` create, each registered in this factory's
/// registry (one per `ServerMetrics`) under its Prometheus name.
extension PrometheusMetricsFactory {
    func counter(_ label: String, dimensions: [(String, String)] = []) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: label, dimensions: dimensions, factory: self)
    }

    func gauge(_ label: String, dimensions: [(String, String)] = []) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: self)
    }

    /// A duration histogram, in the factory's `defaultDurationHistogramBuckets`.
    func timer(_ label: String) -> CoreMetrics.Timer {
        CoreMetrics.Timer(label: label, factory: self)
    }

    /// A value histogram, in the factory's `valueHistogramBuckets[label]`.
    func histogram(_ label: String) -> CoreMetrics.Recorder {
        CoreMetrics.Recorder(label: label, aggregate: true, factory: self)
    }
}
