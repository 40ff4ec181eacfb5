internal import Foundation

/// Everything a worker process is told; validated on construction.
public struct WorkerConfiguration: Sendable, CustomStringConvertible {
    /// libpq connection string or URI; empty means PG* variables and ~/.pgpass.
    public var connectionString: String
    /// The connection for what needs a session of its own, not a pooled transaction: `LISTEN` (wake-ups)
    /// and the sampler's advisory lock. Behind a transaction-pooling PgBouncer, point it at PostgreSQL
    /// directly (`--listen-database-url`); nil: ``connectionString``.
    public var listenConnectionString: String?
    /// The session connection in use: ``listenConnectionString`` or ``connectionString``.
    public var sessionConnectionString: String { listenConnectionString ?? connectionString }
    /// Prepare the lease once per connection (faster: 6.2 → 3.4 ms per lease at 8 slots). Off behind a
    /// transaction-pooling PgBouncer older than 1.21, which cannot keep a prepared statement across
    /// transactions (each slot's rounds would fail with 26000). Default true.
    public var preparedStatements = true
    /// Herald's schema.
    public var schema: SchemaName
    /// Names this worker in the attempt log: host-pid-random by default.
    public var workerID: String
    /// Slots, each with its own database connection and lease. Default 8, 1…256: measured with batch 1
    /// against a 200 ms endpoint, one worker delivered 64 slots 173–226/s, 128 slots 316/s, 256 slots 206/s
    /// (docs/benchmarks.md, section 4b); past about 128 slots more of them cost the database (lock manager,
    /// commits) more than they add. For more sends in flight, raise the batch size or run more processes.
    public var concurrency: Int = 8
    /// Slots beyond ``concurrency`` that lease while others wait only for straggling sends (``SlotPermits``):
    /// at most `concurrency` slots lease at once, but a round whose batch is half done and has waited
    /// ``stragglerDelay`` more gives its turn to a spare one, and so does a round still waiting for sends
    /// ``slowRoundDelay`` after they started, when new work rings and no slot is free to lease it. Each
    /// spare slot opens its own database connection on first use, so a worker holds up to `concurrency + spareSlots` (+ 3) connections.
    /// Default 8, 0…256 (0: a slot waits for its slowest send before anything else leases in its place).
    public var spareSlots: Int = 8
    /// How long a round that is half done waits for the rest before it lets a spare slot lease. Default 50 ms.
    public var stragglerDelay: Duration = .milliseconds(50)
    /// How long after its sends started a round still waiting for them counts as slow: a slow round hands its
    /// permit to a spare slot when new work rings and no slot is free to lease it (``StragglerWatch``), so a
    /// fast endpoint's delivery does not wait for a slow endpoint's rounds to end. Default 100 ms; unused
    /// without spare slots.
    public var slowRoundDelay: Duration = .milliseconds(100)
    /// Deliveries a slot leases in one transaction and sends at once. Default 16, 1…256.
    /// Larger batches cost fewer round trips per delivery; a batch commits when its slowest send ends.
    public var batchSize: Int = 16
    /// Requests in flight to one breaker key across the whole fleet, at most, for endpoints that set no
    /// `max_in_flight` of their own: the cap of the adaptive window (docs/flow_control.md). Default 128
    /// (a default worker's 8 × 16 sends can all go to one healthy endpoint), 1…10000.
    public var maxInFlightPerEndpoint: Int = 128
    /// Bytes of large bodies (over 64 KiB) a worker holds at once across its slots (default 64 MiB): what
    /// does not fit waits for a later round, unsent (``ByteBudget``). A larger body still goes, alone.
    public var maxInFlightBytes: Int = 64 * 1024 * 1024
    /// How often idle slots look for due work when no notification arrives. Default 1 s.
    public var pollInterval: Duration = .seconds(1)
    /// Enqueue notifications closer together than this wake one slot at the window's end instead of one
    /// each (``WakeupThrottle``): under steady load a slot leases many deliveries per round instead of one.
    /// The first after a quiet window wakes a slot at once. Default 10 ms, 0 (one wake-up each) … 100 ms:
    /// against 5 ms, interleaved A/B on the bench machine, 10 ms sustained 8-20% more enqueue + deliver
    /// (14 pairs, 10 ms ahead in each) with 7-17% less CPU per delivery, for 3 ms more p50 and p99 at
    /// 554/s (docs/benchmarks.md, section 3b and "What was fixed").
    public var wakeupCoalescing: Duration = .milliseconds(10)
    /// TCP connect timeout per send. Default 5 s.
    public var connectTimeout: Duration = .seconds(5)
    /// Whole-request timeout per send, body included. Default 15 s.
    public var requestTimeout: Duration = .seconds(defaultRequestTimeoutSeconds)
    /// The default of ``requestTimeout``, for tools that reason about a worker they cannot ask.
    public static let defaultRequestTimeoutSeconds: Double = 15
    /// Response bytes read per send; the rest is discarded. Default 64 KiB.
    public var responseLimit: Int = 64 * 1024
    /// Characters of the response body kept in the attempt log. Default 1024.
    public var excerptLimit: Int = 1024
    /// The worker's retry policy; endpoints and deliveries may override parts.
    public var retryPolicy: RetryPolicy = .default
    /// The worker's breaker policy; endpoints may override parts.
    public var breakerPolicy: BreakerPolicy = .default
    /// Consecutive interrupted sends (worker killed or wedged mid-send) after which a delivery is parked
    /// as dead instead of being sent again. Default 3, 1…100.
    public var poisonThreshold = 3
    /// Send to loopback, private, link-local and other non-global addresses. Default false (SSRF guard).
    public var allowPrivateNetworks = false
    /// How often queue depth, lag and open breakers are sampled into the metrics. Default 10 s.
    public var sampleInterval: Duration = .seconds(10)
    /// How often the worker upserts its row in `worker_heartbeats` (`herald workers`). Default 5 s,
    /// 100 ms…5 min; the worker counts as silent after 3 intervals without one.
    public var heartbeatInterval: Duration = .seconds(5)
    /// `/readyz` answers ready while the worker heard from its database this recently. Default 15 s; the
    /// wake-up listener alone talks to it at least every 5 s.
    public var readinessWindow: Duration = .seconds(15)
    /// Keys that seal signing secrets and producer headers at rest (`HERALD_ENCRYPTION_KEY`); nil stores
    /// them in clear. With keys, the worker opens sealed values to send and seals clear ones in the background.
    public var encryption: EncryptionKeys?
    /// How often the worker seals values stored in clear since its last pass, when ``encryption`` is set. Default 2 s.
    public var sealInterval: Duration = .seconds(2)
    /// An endpoint every attempt to which failed for this long (no success in between) is disabled, with
    /// an `endpoint_events` row and an `endpoint.disabled` operational webhook. Default 5 days (Svix and
    /// Standard Webhooks' advice); nil never disables for failures (a 410 Gone still disables at once).
    public var disableFailingAfter: Duration? = .seconds(5 * 86_400)
    /// Longest wait on SIGTERM for sends in flight before they are abandoned (rolled back). Default 30 s.
    public var shutdownGrace: Duration = .seconds(30)
    /// Port of `/metrics`, `/healthz` and `/readyz`; nil (the default) serves none.
    public var metricsPort: Int?
    /// Address the metrics server binds. Default 127.0.0.1: this machine only.
    public var metricsHost: String = MetricsServer.defaultHost

    /// The bound of ``concurrency``, for ``validate()`` and for messages that name it (one source).
    public static let concurrencyRange = 1...256
    /// The bound of ``spareSlots``.
    public static let spareSlotsRange = 0...256
    /// The bound of ``batchSize``.
    public static let batchSizeRange = 1...256
    /// The bound of ``maxInFlightPerEndpoint``.
    public static let maxInFlightPerEndpointRange = 1...10000
    /// The bound of ``poisonThreshold``.
    public static let poisonThresholdRange = 1...100
    /// The bound of ``maxInFlightBytes``: 1 MiB to 64 GiB.
    public static let maxInFlightBytesRange = (1024 * 1024)...(64 * 1024 * 1024 * 1024)
    /// The bound of ``metricsPort``.
    public static let metricsPortRange = 1...65535

    /// How long a key's backlog waits when its breaker is half-open and another worker has the probe out.
    public var probeWait: Duration = .seconds(2)

    /// The server ends a transaction idle this long: a frozen worker's lease is released by PostgreSQL
    /// itself. A margin above the request timeout, since the lease is idle while the request is in flight.
    public var idleInTransactionTimeout: Duration { requestTimeout + .seconds(10) }

    /// After a send whose worker died or froze, the delivery is not sent again until this long after that
    /// send's journal row: by then the send had to start (``sendDeadline``) and end (the request timeout),
    /// or its frozen worker refuses to start it, so one delivery never has two requests open at once. It is
    /// the idle-in-transaction timeout: request timeout + 10 s (25 s at the defaults).
    public var resendWait: Duration { idleInTransactionTimeout }

    /// No send of a batch starts later than this after the lease: a send started then, running for the
    /// whole request timeout, still ends 2 s before the server's idle timeout would end the lease.
    public var sendDeadline: Duration { idleInTransactionTimeout - requestTimeout - .seconds(2) }

    /// The lease's worker constants.
    var leaseSettings: DeliveryStore.LeaseSettings {
        DeliveryStore.LeaseSettings(
            limit: batchSize, defaultCap: maxInFlightPerEndpoint, threshold: breakerPolicy.failureThreshold,
            probeWaitMilliseconds: Int(probeWait.seconds * 1000), resendWaitMilliseconds: Int(resendWait.seconds * 1000),
            idleInTransactionMilliseconds: Int(idleInTransactionTimeout.seconds * 1000), prepared: preparedStatements)
    }

    public init(connectionString: String, schema: SchemaName, workerID: String? = nil) {
        self.connectionString = connectionString
        self.schema = schema
        self.workerID = workerID ?? Self.defaultWorkerID()
    }

    /// Checks every bound; throws ``HeraldError/Code/invalidInput`` naming the setting.
    public func validate() throws {
        guard Self.concurrencyRange.contains(concurrency) else { throw HeraldError.invalid("concurrency must be between 1 and 256, got \(concurrency)") }
        guard Self.spareSlotsRange.contains(spareSlots) else { throw HeraldError.invalid("spare slots must be between 0 and 256, got \(spareSlots)") }
        guard stragglerDelay >= .milliseconds(1) else { throw HeraldError.invalid("straggler delay must be at least 1ms, got \(stragglerDelay)") }
        guard slowRoundDelay >= .milliseconds(1) else { throw HeraldError.invalid("slow round delay must be at least 1ms, got \(slowRoundDelay)") }
        guard Self.batchSizeRange.contains(batchSize) else { throw HeraldError.invalid("batch size must be between 1 and 256, got \(batchSize)") }
        guard Self.maxInFlightPerEndpointRange.contains(maxInFlightPerEndpoint) else {
            throw HeraldError.invalid("max in flight per endpoint must be between 1 and 10000, got \(maxInFlightPerEndpoint)")
        }
        guard pollInterval >= .milliseconds(10), pollInterval <= .seconds(60) else {
            throw HeraldError.invalid("poll interval must be between 10ms and 60s, got \(pollInterval)")
        }
        guard wakeupCoalescing >= .zero, wakeupCoalescing <= .milliseconds(100) else {
            throw HeraldError.invalid("wake-up coalescing must be between 0ms and 100ms, got \(wakeupCoalescing)")
        }
        guard connectTimeout >= .milliseconds(100), connectTimeout <= .seconds(60) else {
            throw HeraldError.invalid("connect timeout must be between 100ms and 60s, got \(connectTimeout)")
        }
        guard requestTimeout >= .milliseconds(100), requestTimeout <= .seconds(300) else {
            throw HeraldError.invalid("request timeout must be between 100ms and 300s, got \(requestTimeout)")
        }
        guard (1...(16 * 1024 * 1024)).contains(responseLimit) else {
            throw HeraldError.invalid("response limit must be between 1 byte and 16 MiB, got \(responseLimit)")
        }
        guard (1...4096).contains(excerptLimit) else { throw HeraldError.invalid("excerpt limit must be between 1 and 4096, got \(excerptLimit)") }
        guard Self.maxInFlightBytesRange.contains(maxInFlightBytes) else {
            throw HeraldError.invalid("max in flight bytes must be between 1MiB and 64GiB, got \(maxInFlightBytes)")
        }
        guard Self.poisonThresholdRange.contains(poisonThreshold) else { throw HeraldError.invalid("poison threshold must be between 1 and 100, got \(poisonThreshold)") }
        guard heartbeatInterval >= .milliseconds(100), heartbeatInterval <= .seconds(300) else {
            throw HeraldError.invalid("heartbeat interval must be between 100ms and 5m, got \(heartbeatInterval)")
        }
        if let after = disableFailingAfter, after < .seconds(1) || after > .seconds(365 * 86_400) {
            throw HeraldError.invalid("disable-failing-after must be between 1s and 365d (or off), got \(after)")
        }
        if let metricsPort, !Self.metricsPortRange.contains(metricsPort) {
            throw HeraldError.invalid("metrics port must be between 1 and 65535, got \(metricsPort)")
        }
        guard shutdownGrace >= .zero, shutdownGrace <= .seconds(3600) else {
            throw HeraldError.invalid("shutdown grace must be between 0s and 1h, got \(shutdownGrace)")
        }
        guard !workerID.isEmpty, workerID.count <= 128 else { throw HeraldError.invalid("worker id must be 1 to 128 characters") }
    }

    /// Every setting but the connection string, which may hold a password.
    public var description: String {
        "WorkerConfiguration(worker_id: \(workerID), schema: \(schema), concurrency: \(concurrency), spare_slots: \(spareSlots), batch_size: \(batchSize), "
            + "poll_interval: \(pollInterval), connect_timeout: \(connectTimeout), request_timeout: \(requestTimeout), "
            + "max_attempts: \(retryPolicy.maxAttempts), backoff_base: \(retryPolicy.base), backoff_cap: \(retryPolicy.cap))"
    }

    static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "\(host)-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
    }
}
