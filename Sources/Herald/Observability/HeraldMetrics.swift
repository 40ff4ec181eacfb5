public import Metrics
internal import PGDriver
public import Prometheus
internal import Synchronization

/// The worker's metrics: swift-metrics instruments backed by a Prometheus registry.
///
/// Why explicit handlers instead of `MetricsSystem.bootstrap`: the registry then knows each family's HELP
/// text and unit (a bare swift-metrics label gives neither), so `/metrics` passes `promtool check metrics`
/// cleanly, and tests can read one worker's registry without global state.
public final class HeraldMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    /// `herald_deliveries_total{outcome}`: attempts' outcomes as committed (delivered, retry, failed, dead).
    public let deliveries: [String: Metrics.Counter]
    /// `herald_attempt_duration_seconds`: send durations.
    public let attemptDuration: Metrics.Timer
    /// `herald_sends_in_flight`: HTTP requests open right now.
    public let inFlight: Meter
    /// What ``inFlight`` counts, readable: the worker heartbeat reports it.
    let sends: SendTally
    /// `herald_breaker_transitions_total{to}`.
    public let breakerTransitions: [String: Metrics.Counter]
    /// `herald_endpoints_disabled_total{reason}`: endpoints this worker disabled (gone: 410; failing: every
    /// attempt failed for longer than `--disable-failing-after`).
    public let endpointsDisabled: [String: Metrics.Counter]
    /// `herald_breakers_open`: breakers open or half-open (sampled).
    public let breakersOpen: Meter
    /// `herald_queue_deliveries{state}` (sampled).
    public let queueDepth: [String: Meter]
    /// `herald_queue_lag_seconds`: age of the oldest due, unsent delivery (sampled).
    public let queueLag: Meter

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        let factory = PrometheusMetricsFactory(registry: registry)
        self.factory = factory
        func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "herald", metricName: name, unitName: unit, helpText: help)
        }
        let outcomes = descriptor("deliveries", "total", "Delivery attempts by committed outcome.")
        deliveries = Dictionary(uniqueKeysWithValues: ["delivered", "retry", "failed", "dead"].map { outcome in
            let handler = registry.makeCounter(descriptor: outcomes, labels: [("outcome", outcome)])
            return (outcome, Metrics.Counter(label: outcomes.name, dimensions: [("outcome", outcome)], handler: handler, factory: factory))
        })
        let duration = descriptor("attempt_duration", "seconds", "Duration of webhook sends.")
        let buckets: [Duration] = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                   .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30)]
        attemptDuration = Metrics.Timer(
            label: duration.name, dimensions: [], handler: registry.makeDurationHistogram(descriptor: duration, buckets: buckets),
            factory: factory)
        let flight = descriptor("sends_in_flight", "", "HTTP sends currently open.")
        sends = SendTally(forwardingTo: registry.makeGauge(descriptor: flight))
        inFlight = Meter(label: flight.name, dimensions: [], handler: sends, factory: factory)
        let transitions = descriptor("breaker_transitions", "total", "Circuit breaker transitions by new state.")
        breakerTransitions = Dictionary(uniqueKeysWithValues: ["open", "closed"].map { to in
            (to, Metrics.Counter(label: transitions.name, dimensions: [("to", to)], handler: registry.makeCounter(descriptor: transitions, labels: [("to", to)]), factory: factory))
        })
        let disabled = descriptor("endpoints_disabled", "total", "Endpoints disabled by workers: gone (410) or failing for too long.")
        endpointsDisabled = Dictionary(uniqueKeysWithValues: ["gone", "failing"].map { reason in
            (reason, Metrics.Counter(label: disabled.name, dimensions: [("reason", reason)], handler: registry.makeCounter(descriptor: disabled, labels: [("reason", reason)]), factory: factory))
        })
        let open = descriptor("breakers_open", "", "Circuit breakers open or half-open (sampled).")
        breakersOpen = Meter(label: open.name, dimensions: [], handler: registry.makeGauge(descriptor: open), factory: factory)
        let depth = descriptor("queue_deliveries", "", "Deliveries by state (sampled).")
        queueDepth = Dictionary(uniqueKeysWithValues: DeliveryState.allCases.map { state in
            (state.rawValue, Meter(label: depth.name, dimensions: [("state", state.rawValue)],
                                    handler: registry.makeGauge(descriptor: depth, labels: [("state", state.rawValue)]), factory: factory))
        })
        let lag = descriptor("queue_lag", "seconds", "Age of the oldest due delivery not yet sent (sampled).")
        queueLag = Meter(label: lag.name, dimensions: [], handler: registry.makeGauge(descriptor: lag), factory: factory)
        let trips = descriptor("db_round_trips", "total", "Statements and pipelines sent to PostgreSQL (each one network round trip).")
        roundTrips = Metrics.Counter(label: trips.name, dimensions: [], handler: registry.makeCounter(descriptor: trips), factory: factory)
    }

    /// `herald_db_round_trips_total`: statements and pipelines this process sent to PostgreSQL.
    public let roundTrips: Metrics.Counter

    /// What `roundTrips` has been told so far of the driver's process-wide count.
    private let reportedTrips = Mutex(0)

    /// Brings `roundTrips` up to the driver's count (the driver knows nothing of metrics).
    func syncRoundTrips() {
        reportedTrips.withLock { reported in
            let trips = PGConnection.roundTrips
            roundTrips.increment(by: Int64(trips - reported))
            reported = trips
        }
    }

    /// The Prometheus text exposition; the round-trip count is current at every scrape.
    public func render() -> [UInt8] {
        syncRoundTrips()
        return registry.emitToBuffer()
    }
}
