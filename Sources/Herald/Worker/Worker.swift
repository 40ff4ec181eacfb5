public import Foundation
public import Logging
internal import PGDriver
public import ServiceLifecycle

/// `herald worker`: delivers due webhooks until told to stop.
///
/// A `Service`: its whole life is ``run()``. On graceful shutdown (SIGTERM/SIGINT through a
/// `ServiceGroup`) the slots stop leasing, finish the sends in flight and commit them, then `run()`
/// returns; the group's maximum shutdown duration is the backstop, after which cancellation rolls the
/// remaining leases back (those deliveries stay pending, no attempt spent).
public struct Worker: Service, CustomStringConvertible {
    let configuration: WorkerConfiguration
    let logger: Logger
    public let metrics: HeraldMetrics
    /// When the worker's listener, sampler or journal last talked to the database.
    public let databaseContact: DatabaseContact
    let now: @Sendable () -> Date

    /// - Parameters:
    ///   - metrics: where the worker counts; serve it with ``MetricsServer``.
    ///   - now: the clock deliveries are scheduled by; tests may inject their own.
    public init(
        configuration: WorkerConfiguration, logger: Logger, metrics: HeraldMetrics = HeraldMetrics(),
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        self.now = now
        databaseContact = DatabaseContact(window: configuration.readinessWindow, now: now)
    }

    /// Fails fast when the schema is not migrated, so a misconfigured worker says so once instead of
    /// logging SQL errors from every slot.
    public func checkSchema() async throws {
        let conn = try await PGConnection.connect(configuration.connectionString, applicationName: "herald-worker", logger: logger)
        defer { Task { await conn.close() } }
        let statuses = try await Migrator(connection: conn, schema: configuration.schema, logger: logger).status()
        databaseContact.record()
        let pending = statuses.filter { $0.state == .pending }.map(\.name)
        guard pending.isEmpty else {
            throw HeraldError(
                .migration,
                "schema \(configuration.schema) is missing migrations (\(pending.joined(separator: ", "))): run `herald migrate` first")
        }
    }

    /// Short and secret-free: ServiceLifecycle logs services by their description.
    public var description: String { "Worker(\(configuration.workerID))" }

    /// Whether the worker heard from its database recently, for `/readyz`: no query per probe (see
    /// ``DatabaseContact``).
    public var databaseIsReachable: Bool { databaseContact.isRecent }

    public func run() async throws {
        let http = HTTPSender(
            connectTimeout: configuration.connectTimeout, totalTimeout: configuration.requestTimeout,
            responseLimit: configuration.responseLimit, excerptLimit: configuration.excerptLimit,
            maxConnectionsPerHost: (configuration.concurrency + configuration.spareSlots) * configuration.batchSize,
            addressPolicy: AddressPolicy(allowPrivateNetworks: configuration.allowPrivateNetworks))
        let doorbell = Doorbell(capacity: configuration.concurrency + configuration.spareSlots)
        let minutes = EndpointMinutesRecorder()
        let budget = ByteBudget(capacity: configuration.maxInFlightBytes)
        let journal = AttemptJournal(
            connectionString: configuration.connectionString, store: DeliveryStore(schema: configuration.schema), contact: databaseContact,
            logger: logger)
        let listener = WakeupListener(
            connectionString: configuration.sessionConnectionString, channel: DeliveryStore(schema: configuration.schema).wakeupChannel,
            doorbell: doorbell, contact: databaseContact, logger: logger, coalescing: configuration.wakeupCoalescing)
        logger.info(
            "worker started",
            metadata: [
                "worker_id": "\(configuration.workerID)", "schema": "\(configuration.schema)",
                "concurrency": "\(configuration.concurrency)", "spare_slots": "\(configuration.spareSlots)", "batch_size": "\(configuration.batchSize)",
                // Whether sends to loopback and private addresses are refused: an operator must be able to
                // see that the guard is on without reading the command line and the environment.
                "ssrf_guard": "\(configuration.allowPrivateNetworks ? "off" : "on")",
            ])
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // The listener has nothing to finish: it stops as soon as shutdown begins.
                await cancelWhenGracefulShutdown { await listener.run() }
            }
            let sampler = QueueSampler(
                connectionString: configuration.sessionConnectionString, schema: configuration.schema, metrics: metrics,
                interval: configuration.sampleInterval, contact: databaseContact, logger: logger, minutes: minutes)
            group.addTask { await cancelWhenGracefulShutdown { await sampler.run() } }
            let heartbeat = WorkerHeartbeat(configuration: configuration, sends: metrics.sends, contact: databaseContact, logger: logger)
            group.addTask { await heartbeat.run() }
            if let keys = configuration.encryption {
                let sealing = SealingService(
                    connectionString: configuration.connectionString, sealer: SecretSealer(keys: keys, schema: configuration.schema),
                    interval: configuration.sealInterval, logger: logger)
                group.addTask { await cancelWhenGracefulShutdown { await sealing.run() } }
            }
            let permits = SlotPermits(configuration.concurrency)
            let leasedRows = LeasedRows()
            if configuration.spareSlots > 0 {
                // Due work no ring announces while slow rounds hold every permit (``SlowRoundPoll``).
                let poll = SlowRoundPoll(doorbell: doorbell, permits: permits, interval: configuration.pollInterval)
                group.addTask { await cancelWhenGracefulShutdown { await poll.run() } }
            }
            for index in 0..<(configuration.concurrency + configuration.spareSlots) {
                let slot = DeliverySlot(
                    index: index, configuration: configuration, http: http, doorbell: doorbell, logger: logger, metrics: metrics, journal: journal,
                    budget: budget, permits: permits, minutes: minutes, leasedRows: leasedRows, now: now)
                group.addTask { await slot.run() }
            }
            await group.waitForAll()
        }
        // The sampler stopped when shutdown began; the slots' last rounds were counted after that. Not in this
        // task: a shutdown whose grace ran out cancelled it, and the write would fail before it was sent.
        let (sessionString, minutesStore, log) = (configuration.sessionConnectionString, EndpointMinutesStore(schema: configuration.schema), logger)
        await Task {
            _ = await TimeLimit.run(within: .seconds(5)) {
                await minutes.writeFinal(connectionString: sessionString, store: minutesStore, logger: log)
            }
        }.value
        await journal.close()
        await http.shutdown()
        logger.info("worker stopped", metadata: ["worker_id": "\(configuration.workerID)"])
    }
}
