public import Prometheus

/// The server's metrics: requests by route, method and status, and their latency by route.
///
/// Why its own registry (not the worker's ``HeraldMetrics``): `herald serve` is its own process with its
/// own `/metrics`; the route label is the route's pattern (`/v1/deliveries/{deliveryId}`), never the
/// concrete path, so ids do not explode the number of series.
public final class APIMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
        namespace: "herald", subsystem: "api", metricName: "requests", unitName: "total", helpText: "API requests by route, method and status.")
    }
    static var duration: MetricNameDescriptor {
        MetricNameDescriptor(
        namespace: "herald", subsystem: "api", metricName: "request_duration", unitName: "seconds", helpText: "API request latency by route.")
    }
    static let buckets: [Duration] = [
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
    ]

    /// Records one answered request.
    func record(route: String, method: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: Self.requests, labels: [("route", route), ("method", method), ("status", String(status))])
            .increment()
        registry.makeDurationHistogram(descriptor: Self.duration, labels: [("route", route)], buckets: Self.buckets)
            .record(duration)
    }

    /// The Prometheus text exposition.
    public func render() -> [UInt8] { registry.emitToBuffer() }
}
