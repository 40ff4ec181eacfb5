internal import Foundation
internal import Logging
internal import PGDriver
internal import ServiceLifecycle

/// One lane of a worker: its own connection, leasing and sending in a loop.
///
/// Per round: `BEGIN` + lease (one round trip), send every leased delivery concurrently while the lease
/// is held, then the completion statement + `COMMIT` (one round trip). A worker killed at any point
/// leaves the transaction to roll back: the rows are pending and unlocked again for other workers.
struct DeliverySlot: Sendable {
    let index: Int
    let configuration: WorkerConfiguration
    let http: HTTPSender
    let doorbell: Doorbell
    let logger: Logger
    let now: @Sendable () -> Date

    private var store: DeliveryStore { DeliveryStore(schema: configuration.schema) }

    func run() async {
        var connection: PGConnection?
        var backoff = ReconnectBackoff()
        var random = SystemRandomNumberGenerator()
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                if connection == nil || connection!.isClosed {
                    connection = try await openSession()
                    if backoff.failures > 0 { logger.info("slot reconnected", metadata: ["slot": "\(index)"]) }
                    backoff.reset()
                }
                let ticket = await doorbell.ticket
                let leased = try await round(on: connection!, random: &random)
                if leased == 0 {
                    await withGracefulShutdownHandler {
                        await doorbell.wait(after: ticket, upTo: configuration.pollInterval)
                    } onGracefulShutdown: {
                        Task { await doorbell.close() }
                    }
                }
            } catch {
                if Task.isCancelled { break }
                let problem = (error as? PGError)?.isConnectionProblem ?? false
                if problem || connection?.isClosed == true {
                    await connection?.close()
                    connection = nil
                }
                let wait = backoff.next(using: &random)
                // The first failure is a warning; repeats while the database is away are debug lines.
                logger.log(
                    level: backoff.failures == 1 ? .warning : .debug, "slot failed; retrying",
                    metadata: ["slot": "\(index)", "error": "\(error)", "retry_in": "\(wait)"])
                await withGracefulShutdownHandler {
                    await doorbell.wait(after: await doorbell.ticket, upTo: wait)
                } onGracefulShutdown: {
                    Task { await doorbell.close() }
                }
            }
        }
        await connection?.close()
    }

    private func openSession() async throws -> PGConnection {
        let conn = try await PGConnection.connect(configuration.connectionString, applicationName: "herald-worker", logger: logger)
        let idleMs = String(Int(configuration.idleInTransactionTimeout.seconds * 1000))
        try await conn.query("SELECT set_config('idle_in_transaction_session_timeout', \(idleMs), false)")
        return conn
    }

    /// One lease-send-complete round; returns how many deliveries it handled.
    func round(on connection: PGConnection, random: inout SystemRandomNumberGenerator) async throws -> Int {
        let store = self.store
        return try await connection.withTransaction(startingWith: store.leaseQuery(limit: configuration.batchSize)) { tx, leased in
            guard leased.count > 0 else { return 0 }
            let deliveries = try leased.rows.map(LeasedDelivery.init(row:))
            let completions = await withTaskGroup(of: Completion.self) { group in
                for delivery in deliveries {
                    group.addTask { await self.attempt(delivery) }
                }
                return await group.reduce(into: [Completion]()) { $0.append($1) }
            }
            // A forced shutdown cancelled the sends: roll back, so the deliveries stay pending unspent.
            try Task.checkCancellation()
            try await tx.commit(with: store.completeQuery(completions))
            return deliveries.count
        }
    }

    /// Sends one delivery (unless its endpoint is disabled) and decides what it becomes.
    func attempt(_ delivery: LeasedDelivery) async -> Completion {
        var random = SystemRandomNumberGenerator()
        let machine = DeliveryStateMachine(policy: delivery.policy(base: configuration.retryPolicy))
        let startedAt = now()
        guard delivery.enabled else {
            let decision = machine.decideDisabled(attempts: delivery.attempts, reason: delivery.disabledReason)
            logger.info("delivery failed: endpoint disabled", metadata: ["delivery_id": "\(delivery.id)"])
            return completion(delivery, decision, startedAt: startedAt, duration: .zero, headers: [:], outcome: nil, log: false)
        }
        let attemptNumber = delivery.attempts + 1
        let timestamp = Int(startedAt.timeIntervalSince1970)
        var headers: [(String, String)] = [
            ("Content-Type", delivery.contentType),
            ("User-Agent", "Herald/\(HeraldVersion.current)"),
            ("webhook-id", delivery.idempotencyKey),
            ("webhook-timestamp", String(timestamp)),
            ("Idempotency-Key", delivery.idempotencyKey),
        ]
        let outcome: HTTPSender.Outcome
        let clock = ContinuousClock()
        let began = clock.now
        do {
            var secrets = [try WebhookSecret(delivery.secret)]
            if let previous = delivery.previousSecret { secrets.append(try WebhookSecret(previous)) }
            headers.append(("webhook-signature", WebhookSigner.header(id: delivery.idempotencyKey, timestamp: timestamp, body: delivery.body, secrets: secrets)))
            headers.append(contentsOf: delivery.headers.sorted { $0.key < $1.key })
            outcome = await http.send(url: delivery.url, headers: headers, body: delivery.body)
        } catch {
            outcome = HTTPSender.Outcome(result: .refused("the endpoint's signing secret is invalid; rotate it"), excerpt: nil)
        }
        let duration = clock.now - began
        let decision = machine.decide(attemptsBefore: delivery.attempts, result: outcome.result, now: now(), random: &random)
        var metadata: Logger.Metadata = [
            "delivery_id": "\(delivery.id)", "attempt": "\(attemptNumber)", "outcome": "\(decision.outcome.rawValue)",
            "duration_ms": "\(Int(duration.seconds * 1000))",
        ]
        if let status = outcome.result.status { metadata["status"] = "\(status)" }
        if let reason = decision.reason { metadata["error"] = "\(Redactor.redact(reason, secrets: [delivery.secret], limit: 256))" }
        logger.log(level: decision.state == .delivered ? .debug : .info, "attempt finished", metadata: metadata)
        return completion(
            delivery, decision, startedAt: startedAt, duration: duration,
            headers: Dictionary(headers, uniquingKeysWith: { a, _ in a }), outcome: outcome, log: true)
    }

    private func completion(
        _ delivery: LeasedDelivery, _ decision: DeliveryStateMachine.Decision, startedAt: Date, duration: Duration,
        headers: [String: String], outcome: HTTPSender.Outcome?, log: Bool
    ) -> Completion {
        let secrets = [delivery.secret] + (delivery.previousSecret.map { [$0] } ?? [])
        return Completion(
            delivery_id: delivery.id, attempt: delivery.attempts + 1, state: decision.state.rawValue, attempts: decision.attempts,
            next_attempt_at: decision.nextAttemptAt.map(PGTimestamp.format), status_code: outcome?.result.status,
            error: decision.reason.map { Redactor.redact($0, secrets: secrets, limit: configuration.excerptLimit) },
            started_at: PGTimestamp.format(startedAt), duration_ms: Int(duration.seconds * 1000), request_headers: headers,
            response_excerpt: outcome?.excerpt.map { Redactor.redact($0, secrets: secrets, limit: configuration.excerptLimit) },
            retryable: decision.retryable, outcome: decision.outcome.rawValue, worker_id: configuration.workerID, log_attempt: log)
    }
}
