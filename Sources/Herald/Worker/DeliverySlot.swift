internal import Foundation
internal import Logging
internal import PGDriver
internal import ServiceLifecycle

/// One lane of a worker: its own connection, leasing and sending in a loop.
///
/// A round reads top to bottom in four stages:
/// 1. **lease** (`BEGIN` + `delivery_lease`, one round trip): due rows, each with a permit of its breaker
///    key, so the fleet never has more requests in flight to a key than its window (docs/flow_control.md);
/// 2. **triage** (``LeaseTriage``, pure): send, park, fail or wait, per row;
/// 3. **send** (``sendAll(_:attemptIDs:lease:deadline:)``): the journal records every send, then every send of
///    the batch starts at once while the lease is held and watched;
/// 4. **complete** (one round trip): each delivery's new state, its attempt row and the breaker records,
///    with `COMMIT`.
///
/// A worker killed at any point leaves the transaction to roll back: rows and permits are free again.
struct DeliverySlot: Sendable {
    let index: Int
    let configuration: WorkerConfiguration
    let http: HTTPSender
    let doorbell: Doorbell
    let logger: Logger
    let metrics: HeraldMetrics
    let journal: AttemptJournal
    /// The worker's byte budget for large bodies, shared by its slots.
    let budget: ByteBudget
    /// The worker's leasing turns: a slot leases only while it holds one (``SlotPermits``).
    let permits: SlotPermits
    /// The worker's per-endpoint, per-minute send counts for `endpoint_health`.
    let minutes: EndpointMinutesRecorder
    /// The rows the worker's slots hold: each lease passes over them (``LeasedRows``).
    let leasedRows: LeasedRows
    let now: @Sendable () -> Date

    var store: DeliveryStore { DeliveryStore(schema: configuration.schema) }

    func run() async {
        var connection: PGConnection?
        var backoff = ReconnectBackoff()
        var random = SystemRandomNumberGenerator()
        // After a round that put large bodies back for want of byte budget, lease one row at a time until a
        // round needs no waiting: a full batch would be leased and put back over and over (a row version
        // each) while the budget admits a body or two.
        var single = configuration.leaseSettings
        single.limit = 1
        var budgetBound = false
        var permit: HeldPermit?
        defer { permit?.release() }
        // The doorbell wait the last round asked for, put off while its permit is gone (``PutOffWait``).
        var putOff = PutOffWait()
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            // A turn to lease first (a spare slot waits here until a round straggles), then a connection:
            // a spare slot connects only once it is needed.
            var waitFirst: Duration?
            if permit?.isHeld != true {
                if permits.tryAcquire() {
                    permit = HeldPermit(permits)
                    waitFirst = putOff.gotPermit(handed: false)
                } else {
                    permit = nil
                    // Shutdown ends the wait: graceful, or cancelled (the grace ran out, or a caller cancelled
                    // the worker without a graceful shutdown); either way every slot stops, so all waits end.
                    let granted = await withTaskCancellationHandler {
                        await withGracefulShutdownHandler {
                            await permits.acquire()
                        } onGracefulShutdown: {
                            permits.close()
                        }
                    } onCancel: {
                        permits.close()
                    }
                    guard granted, !Task.isShuttingDownGracefully, !Task.isCancelled else {
                        if granted { permits.release() }
                        break
                    }
                    permit = HeldPermit(permits)
                    waitFirst = putOff.gotPermit(handed: true)
                }
            }
            if let wait = waitFirst {
                await waitForRing(upTo: wait)
                continue
            }
            do {
                if connection == nil || connection!.isClosed {
                    connection = try await openSession()
                    if backoff.failures > 0 { logger.info("slot reconnected", metadata: ["slot": "\(index)"]) }
                    backoff.reset()
                }
                await journal.settlePending()
                let limit = budgetBound ? 1 : configuration.batchSize
                let lease = store.leaseQuery(budgetBound ? single : configuration.leaseSettings, held: leasedRows.snapshot())
                let round = try await self.round(lease, on: connection!, permit: permit)
                budgetBound = round.waitingForBudget > 0 || (budgetBound && round.leased > 0 && round.releasedBytes > 0)
                for backlog in round.backlogs { try await moveBacklog(backlog, on: connection!) }
                // Budget given back: a slot that put large bodies back for want of it may go now.
                if round.releasedBytes > 0 { await doorbell.ring() }
                // Nothing sent, or less than a full batch leased with nothing left waiting for permits (the lease
                // took everything due): lease again only once a ring says new work was queued, or when the
                // poll, a retry or a rate limit this round put back falls due. Going straight back would mostly
                // lease nothing (``Doorbell``). With due work left for want of permits, this round's commit
                // just gave some back: a slot that sent goes straight back for it, as before.
                let tookAllDue = round.leased < limit && round.excess == 0
                if round.sent == 0 || tookAllDue {
                    var wait = configuration.pollInterval
                    // Due work waits for permits that other slots or workers hold: look again soon.
                    if round.excess > 0 { wait = min(wait, .milliseconds(100)) }
                    // Large bodies wait for budget that another slot gives back (it rings): no polling for it.
                    if let soonest = round.nextDue, round.waitingForBudget == 0 {
                        wait = min(wait, .milliseconds(max(5, Int(soonest.timeIntervalSince(now()) * 1000))))
                    }
                    if let ringWait = putOff.roundAsks(toWait: wait, holdsPermit: permit?.isHeld == true) { await waitForRing(upTo: ringWait) }
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
                    await doorbell.pause(for: wait)
                } onGracefulShutdown: {
                    Task { await doorbell.close() }
                }
            }
        }
        await connection?.close()
    }

    /// Waits for a ring, the poll, or shutdown.
    private func waitForRing(upTo wait: Duration) async {
        await withGracefulShutdownHandler {
            await doorbell.wait(upTo: wait)
        } onGracefulShutdown: {
            Task { await doorbell.close() }
        }
    }

    private func openSession() async throws -> PGConnection {
        let conn = try await PGConnection.connect(configuration.connectionString, applicationName: "herald-worker", logger: logger)
        let idleMs = String(Int(configuration.idleInTransactionTimeout.seconds * 1000))
        try await conn.query("SELECT set_config('idle_in_transaction_session_timeout', \(idleMs), false)")
        return conn
    }

    /// What a round did: rows leased, sends made, and held-back backlogs to move out of the due index's head.
    struct RoundResult: Sendable {
        var leased = 0
        var sent = 0
        var backlogs: [Backlog] = []
        /// Due rows the lease left unsent for want of a permit (their keys' windows were full).
        var excess = 0
        /// Leased rows with large bodies put back unsent because the worker's byte budget was full.
        var waitingForBudget = 0
        /// Budget bytes this round held and gave back: a slot waiting for them may go now.
        var releasedBytes = 0
        /// The earliest of: when the next pending delivery falls due (every lease reports it: migration
        /// 0023), and when a retry or deferral this round wrote is due.
        var soonest: Date?

        /// When the slot must look again by itself: ``soonest``, or a backlog this round moved, whichever
        /// falls due first.
        var nextDue: Date? { ([soonest] + backlogs.map(\.until)).compactMap { $0 }.min() }
    }

    /// A breaker key's due rows that must wait until `until` (open breaker, deferral, probe out).
    struct Backlog: Sendable, Hashable {
        var key: String
        var until: Date
    }

    /// Moves a held-back backlog in bounded batches, each its own short transaction, outside any lease.
    func moveBacklog(_ backlog: Backlog, on connection: PGConnection) async throws {
        var total = 0
        for _ in 0..<200 {
            let moved = try await connection.query(store.breakerDeferBacklogQuery(key: backlog.key, until: backlog.until, limit: 5000))
                .first?.decode("moved", as: Int.self) ?? 0
            total += moved
            if moved < 5000 { break }
        }
        logger.debug("moved a held-back backlog", metadata: ["breaker": "\(backlog.key)", "deliveries": "\(total)"])
    }
}

/// One send's result inside a round: what to write, and what the breaker learns from it.
struct SentAttempt: Sendable {
    var completion: Completion
    var endpointSend: EndpointOutcomeBatch.Send
    var breakerSend: BreakerBatch.Send
}
