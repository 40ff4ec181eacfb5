internal import Foundation
internal import Logging
internal import PGDriver

/// Writes attempt rows before their sends, on a connection of its own, committed at once.
///
/// Why a second connection: the lease transaction commits only after the sends; a worker killed mid-send
/// rolls it back, and the attempt would vanish from the log. Rows written here survive with outcome
/// `unknown`, so the log agrees with what the receiver saw, and poison deliveries (whose sends kill
/// workers) can be counted. One journal serves all slots of a worker: one short statement per batch,
/// which also reserves the rate limits of the batch's keys (autocommitted, so no breaker row stays
/// locked across a send).
actor AttemptJournal {
    let connectionString: String
    let store: DeliveryStore
    let contact: DatabaseContact
    let logger: Logger
    private var connection: PGConnection?
    /// Statements that settle journal rows of failed rounds, in order (see ``abandon(began:neverBegan:reason:)``):
    /// abandoned rows not yet settled (the database was away when the round failed), retried before the
    /// next batch is recorded.
    private var unsettled: [PGQuery] = []
    /// How often the database has refused the first of ``unsettled`` (an error of its own, not a lost
    /// connection), counted at most once a second: a write that must settle first tries on every batch.
    private var refusals = 0
    private var lastRefusal: ContinuousClock.Instant?
    /// A statement the database refuses this often is given up: its rows stay `unknown`, the conservative
    /// reading. Retried forever, one refused statement (a trigger, a permission, a constraint) kept every
    /// later round's rows unsettled behind it, and a refused forget stopped the worker from recording,
    /// hence from sending, anything again. A refusal that passes (a lock or statement timeout, a failover's
    /// read-only moment) has this many seconds to pass.
    static let refusalsBeforeGivingUp = 5
    /// Some of them forget rows a lost answer may have left: no new rows are written before they ran.
    private var mustSettleFirst = false
    /// After a failed attempt to settle, the next one waits a second: while the database is away, every
    /// slot asking would otherwise queue connection attempts on this actor, which the slots' own batches
    /// then wait behind.
    private var nextSettle = ContinuousClock.now
    /// A settle loop is running. The actor is reentrant at every `await`: without this, a second slot's
    /// settle ran the same first statement and both removed "the first" element, so one settlement was
    /// dropped unrun (its rows stayed `unknown`) or the worker crashed removing from an empty list (found
    /// by the full suite on a loaded machine: "Can't remove first element from an empty collection").
    private var settling = false
    /// Journal writes waiting for the running settle loop: a write must not start while rows it may
    /// duplicate are unsettled, and failing it only because another slot's settle was running failed every
    /// batch of the group (all of them then rolled back unsent).
    private var settleWaiters: [CheckedContinuation<Void, Never>] = []
    /// The connection being opened, shared by everyone who needs one meanwhile.
    private var connecting: Task<PGConnection, any Error>?

    init(connectionString: String, store: DeliveryStore, contact: DatabaseContact, logger: Logger) {
        self.connectionString = connectionString
        self.store = store
        self.contact = contact
        self.logger = logger
    }

    /// What the journal said of one send.
    enum Entry: Sendable, Equatable {
        /// On record: its attempt row, and how long the send waits for its rate-limit slot (zero without one).
        case recorded(attemptID: Int64, sendAfter: Duration)
        /// Refused by its key's rate limit: not before this time (database clock); no row written.
        case rateLimited(until: Date)
    }

    /// Slots' batches waiting for the next journal write, and whether a write loop is running.
    private var queued: [(markers: [AttemptMarker], continuation: CheckedContinuation<[Int64: Entry], any Error>)] = []
    private var writing = false
    /// The most markers one journal statement carries; a longer queue is written in several.
    static let maxMarkersPerWrite = 1024

    /// Records `markers`; returns what became of each delivery. Throws if the rows could not be written,
    /// and then nothing may be sent.
    ///
    /// Group commit: every slot's batch that arrives while a write is out goes into the next write, one
    /// statement and one commit for all of them. Written one batch per statement on the journal's one
    /// connection, the journal was a queue every round of every slot waited in: with batch 1 against a
    /// 200 ms endpoint a worker finished at most about 240 rounds/s however many slots it had (64 slots
    /// 226/s, 128 slots 241/s, 256 slots 42/s: docs/benchmarks.md, section 4b).
    func begin(_ markers: [AttemptMarker]) async throws -> [Int64: Entry] {
        guard !markers.isEmpty else { return [:] }
        return try await withCheckedThrowingContinuation { continuation in
            queued.append((markers, continuation))
            if !writing {
                writing = true
                Task { await self.writeQueued() }
            }
        }
    }

    /// Writes what is queued, in as few statements as the bound allows, until nothing is.
    private func writeQueued() async {
        while !queued.isEmpty {
            // Bounded, and a delivery at most once per statement: a batch whose lease ended while it was
            // queued can meet the next lease of the same delivery here, and their rows must stay apart.
            var count = 0
            var ids: Set<Int64> = []
            let take = queued.prefix { item in
                let mine = item.markers.map(\.deliveryID)
                guard count == 0 || (count + mine.count <= Self.maxMarkersPerWrite && ids.isDisjoint(with: mine)) else { return false }
                count += mine.count
                ids.formUnion(mine)
                return true
            }.count
            let group = Array(queued.prefix(take))
            queued.removeFirst(take)
            do {
                let entries = try await write(group.flatMap(\.markers))
                for (markers, continuation) in group {
                    var mine: [Int64: Entry] = [:]
                    for marker in markers { mine[marker.deliveryID] = entries[marker.deliveryID] }
                    continuation.resume(returning: mine)
                }
            } catch {
                for (_, continuation) in group { continuation.resume(throwing: error) }
            }
        }
        writing = false
    }

    /// One journal statement for the markers of one or more batches, no delivery twice.
    private func write(_ markers: [AttemptMarker]) async throws -> [Int64: Entry] {
        if mustSettleFirst { await settle(waitIfRunning: true) } else { await settlePending() }
        if mustSettleFirst {
            // Refused, not away: the slot keeps its connection (a lost one would be closed and opened again).
            if refusals > 0 {
                throw PGError(
                    .client,
                    message: "earlier journal rows are not settled yet (the database refused the statement; "
                        + "it is given up after \(Self.refusalsBeforeGivingUp) refusals a second apart)")
            }
            throw PGError(.connectionLost, message: "earlier journal rows are not settled yet (the database is away)")
        }
        let query = store.journalQuery(markers)
        let pairs = markers.map { (deliveryID: $0.deliveryID, attempt: $0.attempt) }
        let workerID = markers[0].workerID
        // A first try that lost its connection may have committed its rows before the answer was lost: after
        // a retry, this worker's other unknown rows for these sends are forgotten (before anything new, if
        // the database is away).
        var retried = false
        let result: PGResult
        do {
            result = try await runRetryingOnce(query, retried: &retried)
        } catch {
            if retried {
                unsettled.append(store.journalForgetQuery(workerID: workerID, markers: pairs, keep: []))
                mustSettleFirst = true
            }
            throw error
        }
        if retried {
            let keep = result.rows.compactMap { try? $0.decode("journal_attempt_id", as: Int64?.self) }
            let forget = store.journalForgetQuery(workerID: workerID, markers: pairs, keep: keep)
            if (try? await open().query(forget)) == nil {
                unsettled.append(forget)
                mustSettleFirst = true
            }
        }
        var entries: [Int64: Entry] = [:]
        for row in result.rows {
            let id: Int64 = try row.decode("journal_delivery_id")
            if let attemptID = try row.decode("journal_attempt_id", as: Int64?.self) {
                let after = try row.decode("journal_send_after_ms", as: Int.self)
                entries[id] = .recorded(attemptID: attemptID, sendAfter: .milliseconds(after))
            } else {
                entries[id] = .rateLimited(until: try row.decode("journal_not_before", as: Date.self))
            }
        }
        return entries
    }

    /// Settles the rows of a round that failed while this worker lived: sends that began become
    /// `interrupted` (never counted toward parking), rows of sends that never began are deleted. If the
    /// database is away (a restart ended the lease), they are settled before the next batch is recorded;
    /// until then they read `unknown`, the conservative reading.
    func abandon(began: [Int64], neverBegan: [Int64], reason: String) async {
        guard !began.isEmpty || !neverBegan.isEmpty else { return }
        unsettled.append(store.journalAbandonQuery(began: began, neverBegan: neverBegan, reason: reason))
        await settlePending()
    }

    /// Settles rows left from earlier failed rounds, if any (every slot calls it before each lease, so
    /// they are settled within about a second of the database coming back, not only at the next batch).
    func settlePending() async {
        if !unsettled.isEmpty, ContinuousClock.now >= nextSettle { await settle() }
    }

    /// Runs the settle loop; with `waitIfRunning`, a loop already running is waited for instead of skipped.
    private func settle(waitIfRunning: Bool = false) async {
        // One loop at a time, and only it removes from the front; `abandon` appends at the end meanwhile.
        guard !settling else {
            if waitIfRunning { await withCheckedContinuation { settleWaiters.append($0) } }
            return
        }
        settling = true
        defer {
            settling = false
            let waiters = settleWaiters
            settleWaiters.removeAll()
            for waiter in waiters { waiter.resume() }
        }
        while let next = unsettled.first {
            do {
                _ = try await runRetryingOnce(next)
                removeFirstUnsettled()
            } catch let error as PGError where !error.isConnectionProblem && error.sqlState != nil {
                let now = ContinuousClock.now
                nextSettle = now + .seconds(1)
                if lastRefusal.map({ now - $0 >= .seconds(1) }) ?? true {
                    refusals += 1
                    lastRefusal = now
                    if refusals < Self.refusalsBeforeGivingUp {
                        logger.warning(
                            "the database refused to settle abandoned sends; trying again in a second",
                            metadata: ["refusals": "\(refusals)", "error": "\(error)"])
                    }
                }
                guard refusals >= Self.refusalsBeforeGivingUp else { return }
                removeFirstUnsettled()
                logger.error(
                    "gave up settling abandoned sends: their attempts stay 'unknown' (read as possibly sent)",
                    metadata: ["refusals": "\(Self.refusalsBeforeGivingUp)", "error": "\(error)"])
            } catch {
                nextSettle = ContinuousClock.now + .seconds(1)
                if unsettled.count > 1000 { removeFirstUnsettled() }  // bounded: a long outage leaves the oldest `unknown`
                logger.debug("could not settle abandoned sends yet", metadata: ["rounds": "\(unsettled.count)", "error": "\(error)"])
                return
            }
        }
    }

    /// Takes the first statement off the queue (run, given up, or over the bound); its refusals go with it.
    private func removeFirstUnsettled() {
        unsettled.removeFirst()
        (refusals, lastRefusal) = (0, nil)
        if unsettled.isEmpty { mustSettleFirst = false }
    }

    private func runRetryingOnce(_ query: PGQuery) async throws -> PGResult {
        var retried = false
        return try await runRetryingOnce(query, retried: &retried)
    }

    /// Runs `query`, once more on a fresh connection if the first try lost its connection (the database may
    /// have restarted since the last batch); `retried` says whether that happened.
    ///
    /// Only the connection that failed is closed: a write and a settle run concurrently on this actor, and
    /// the second to fail must not close the connection the first has just opened.
    private func runRetryingOnce(_ query: PGQuery, retried: inout Bool) async throws -> PGResult {
        let result: PGResult
        let first = try await open()
        do {
            result = try await first.query(query)
        } catch let error as PGError where error.isConnectionProblem {
            retried = true
            await first.close()
            if connection === first { connection = nil }
            result = try await open().query(query)
        }
        contact.record()
        return result
    }

    /// The journal's connection, opened if needed; one connect at a time, whoever else asks meanwhile waits
    /// for it (two connects at once left one connection open and unused).
    private func open() async throws -> PGConnection {
        if let connection, !connection.isClosed { return connection }
        if let connecting { return try await connecting.value }
        let (connectionString, logger) = (self.connectionString, self.logger)
        let task = Task { try await PGConnection.connect(connectionString, applicationName: "herald-journal", logger: logger) }
        connecting = task
        do {
            let fresh = try await task.value
            connection = fresh
            connecting = nil
            return fresh
        } catch {
            connecting = nil
            throw error
        }
    }

    func close() async {
        await connection?.close()
        connection = nil
    }
}
