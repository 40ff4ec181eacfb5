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
    let metrics: HeraldMetrics
    let journal: AttemptJournal
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
                // A full batch: there is likely more due work than this slot takes; wake an idle one.
                if leased >= configuration.batchSize { await doorbell.ring() }
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
    ///
    /// Before sending, each leased delivery passes its circuit breaker: closed sends; open defers it to
    /// when the breaker may half-open (no attempt spent); half-open sends it only as the probe, after
    /// claiming the breaker row's lock (one claim per key per batch; the others wait ``WorkerConfiguration/probeWait``).
    func round(on connection: PGConnection, random: inout SystemRandomNumberGenerator) async throws -> Int {
        let store = self.store
        return try await connection.withTransaction(startingWith: store.leaseQuery(limit: configuration.batchSize)) { tx, leased in
            guard leased.count > 0 else { return 0 }
            let deliveries = try leased.rows.map(LeasedDelivery.init(row:))
            var deferred: [Completion] = []
            var toSend: [(delivery: LeasedDelivery, probe: Bool)] = []
            var probeClaims: [String: Bool] = [:]
            for delivery in deliveries {
                if delivery.interrupted >= configuration.poisonThreshold {
                    deferred.append(parked(delivery))
                    continue
                }
                if !delivery.enabled {
                    deferred.append(disabled(delivery))
                    continue
                }
                // The last send was interrupted (its worker died, froze, or lost its lease to a database
                // restart). If that worker lives on, frozen, its request may still be open at the receiver:
                // wait two request timeouts from that send before sending again, so one delivery never has
                // two requests open at once (unless the receiver itself holds a request longer than that).
                if delivery.interrupted > 0, let last = delivery.lastUnknownAt {
                    let safe = last.addingTimeInterval(2 * configuration.requestTimeout.seconds)
                    if safe > now() {
                        deferred.append(deferral(delivery, until: safe))
                        continue
                    }
                }
                switch delivery.gate {
                case .send:
                    toSend.append((delivery, false))
                case .wait(let until):
                    deferred.append(deferral(delivery, until: until))
                case .probe:
                    if probeClaims[delivery.breakerKey] == nil {
                        let claimed = try await tx.query(store.claimProbeQuery(key: delivery.breakerKey)).first?.decode("claimed", as: Bool.self) ?? false
                        probeClaims[delivery.breakerKey] = claimed
                        if claimed {
                            toSend.append((delivery, true))
                            logger.info("sending half-open probe", metadata: ["breaker": "\(delivery.breakerKey)", "delivery_id": "\(delivery.id)"])
                            continue
                        }
                    }
                    deferred.append(deferral(delivery, until: now().addingTimeInterval(configuration.probeWait.seconds)))
                }
            }
            // Every send is on record before it starts; if that fails, nothing is sent (the lease rolls back).
            let leaseStart = ContinuousClock.now
            let attemptIDs = try await journal.begin(toSend.map { item in
                AttemptMarker(
                    delivery_id: item.delivery.id, attempt: item.delivery.attempts + 1, worker_id: configuration.workerID,
                    started_at: PGTimestamp.format(now()))
            })
            // A worker frozen (SIGSTOP, a stalled VM) between lease and send may have lost its lease to the
            // server's idle-in-transaction timeout; sending then could overlap another worker's send.
            guard ContinuousClock.now - leaseStart < configuration.requestTimeout else {
                throw PGError(.connectionLost, message: "the lease may have expired before the sends (the worker was paused)")
            }
            let (sent, heldBack) = try await sendWhileLeaseHolds(toSend, attemptIDs: attemptIDs, lease: tx)
            // A forced shutdown cancelled the sends: roll back, so the deliveries stay pending unspent.
            try Task.checkCancellation()
            var statements = [store.completeQuery(sent.map(\.completion) + deferred + heldBack)]
            let records = breakerRecords(sent)
            if !records.isEmpty { statements.append(store.recordBreakersQuery(records)) }
            let results = try await tx.commit(with: statements)
            for attempt in sent where attempt.completion.log_attempt {
                metrics.deliveries[attempt.completion.outcome]?.increment()
            }
            if results.count > 1 { logTransitions(results[1]) }
            return deliveries.count
        }
    }

    /// Sends concurrently while watching the lease's connection: if the server ends the transaction
    /// (restart, idle-in-transaction timeout) the locks no longer cover the sends, another worker may lease
    /// the rows, so the sends still in flight are cancelled at once and the round fails.
    ///
    /// Sends are paced per breaker key by a ``BatchSendGate``; what it holds back (its key's breaker
    /// tripped during the batch) is returned as deferrals: unsent, no attempt spent, its journal row dropped.
    private func sendWhileLeaseHolds(
        _ toSend: [(delivery: LeasedDelivery, probe: Bool)], attemptIDs: [Int64: Int64], lease: PGConnection
    ) async throws -> (sent: [SentAttempt], heldBack: [Completion]) {
        guard !toSend.isEmpty else { return ([], []) }
        return try await withThrowingTaskGroup(of: (sent: [SentAttempt], heldBack: [LeasedDelivery])?.self) { group in
            group.addTask { await self.sendPaced(toSend, attemptIDs: attemptIDs) }
            group.addTask { try await lease.waitUntilLost() }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let results = first else {
                throw PGError(.connectionLost, message: "the lease ended during the sends")
            }
            // Due again at once: this batch's commit opens the breaker, and the next lease defers them to
            // exactly its open_until (so `herald breakers reset` brings them back with the rest).
            let heldBack = results.heldBack.map { delivery in
                var completion = deferral(delivery, until: now())
                completion.attempt_id = attemptIDs[delivery.id]  // its journal row goes: it was never sent
                return completion
            }
            if !heldBack.isEmpty {
                logger.info("breaker tripped mid-batch; held back unsent", metadata: ["deliveries": "\(heldBack.count)"])
            }
            return (results.sent, heldBack)
        }
    }

    /// Sends as the batch's ``BatchSendGate`` admits them, feeding it each result; returns what was sent
    /// and what it held back.
    private func sendPaced(
        _ toSend: [(delivery: LeasedDelivery, probe: Bool)], attemptIDs: [Int64: Int64]
    ) async -> (sent: [SentAttempt], heldBack: [LeasedDelivery]) {
        var gate = BatchSendGate(toSend.map { item in
            (key: item.delivery.breakerKey, threshold: item.delivery.breakerPolicy(base: configuration.breakerPolicy).failureThreshold,
             failures: item.delivery.breakerFailures, item: item)
        })
        return await withTaskGroup(of: SentAttempt.self) { sends in
            var sent: [SentAttempt] = []
            var admitted = gate.admit()
            while true {
                for item in admitted {
                    sends.addTask { await self.attempt(item.delivery, probe: item.probe, attemptID: attemptIDs[item.delivery.id]) }
                }
                guard let done = await sends.next() else { break }
                sent.append(done)
                gate.finished(key: done.delivery.breakerKey, success: done.classification.breakerSignal)
                admitted = gate.admit()
            }
            return (sent, gate.heldBack.map(\.delivery))
        }
    }

    /// A delivery of a disabled endpoint: failed with the endpoint's reason, never sent.
    private func disabled(_ delivery: LeasedDelivery) -> Completion {
        let machine = DeliveryStateMachine(policy: delivery.policy(base: configuration.retryPolicy))
        let decision = machine.decideDisabled(attempts: delivery.attempts, reason: delivery.disabledReason)
        logger.info("delivery failed: endpoint disabled", metadata: ["delivery_id": "\(delivery.id)"])
        return completion(delivery, decision, startedAt: now(), duration: .zero, headers: [:], outcome: nil, log: false, attemptID: nil)
    }

    /// A delivery whose last sends all died with their workers: parked as dead, not sent again.
    private func parked(_ delivery: LeasedDelivery) -> Completion {
        logger.warning("parking a delivery whose sends keep interrupting workers", metadata: ["delivery_id": "\(delivery.id)", "interrupted": "\(delivery.interrupted)"])
        var completion = deferral(delivery, until: now())
        completion.state = DeliveryState.dead.rawValue
        completion.outcome = "dead"
        completion.retryable = false
        completion.interrupted = delivery.interrupted
        completion.error = "parked: its last \(delivery.interrupted) sends never finished (the worker was killed or wedged mid-send); "
            + "replay it once the cause is fixed"
        return completion
    }

    /// A delivery put back for later without a send: no attempt spent, no attempt row.
    private func deferral(_ delivery: LeasedDelivery, until: Date) -> Completion {
        Completion(
            delivery_id: delivery.id, attempt: delivery.attempts, state: DeliveryState.pending.rawValue, attempts: delivery.attempts,
            next_attempt_at: PGTimestamp.format(until), status_code: nil, error: nil, started_at: PGTimestamp.format(now()),
            duration_ms: 0, request_headers: [:], response_excerpt: nil, retryable: true, outcome: "retry",
            worker_id: configuration.workerID, log_attempt: false, attempt_id: nil, interrupted: nil)
    }
}

/// One send's result inside a round: what to write, and what it says about the endpoint's breaker.
struct SentAttempt: Sendable {
    var delivery: LeasedDelivery
    var probe: Bool
    var classification: AttemptResult.Classification
    var completion: Completion
}

extension AttemptResult.Classification {
    /// What an answer says about the endpoint being down: nil for answers that say nothing (4xx).
    var breakerSignal: Bool? {
        switch self {
        case .success: return true
        case .retryable: return false
        case .permanent: return nil
        }
    }
}
