internal import Foundation
internal import Logging
internal import PGDriver
internal import Tracing

/// One round of a slot: lease, triage, send, complete (see ``DeliverySlot``).
extension DeliverySlot {
    /// One lease-triage-send-complete round.
    ///
    /// `permit` is given back early if the round comes to wait only for stragglers, or handed to a spare slot
    /// if its sends are slow and a ring finds no slot free (``StragglerWatch``).
    func round(_ leaseQuery: PGQuery, on connection: PGConnection, permit: HeldPermit? = nil) async throws -> RoundResult {
        // Measured before the lease's round trip: the server's idle-in-transaction clock starts no earlier.
        let leaseStart = ContinuousClock.now
        let leaseInstant = DefaultTracerClock.now
        // This round's rows, held from the lease until the transaction ends (commit or rollback).
        var held: [Int64] = []
        defer { leasedRows.remove(held) }
        return try await connection.withTransaction(startingWith: leaseQuery) { tx, lease in
            let leaseAnswered = DefaultTracerClock.now
            var result = RoundResult()
            var rows: [PGRow] = []
            for row in lease.rows {
                if let key = try row.decode("backlog_key", as: String?.self) {
                    result.backlogs.append(Backlog(key: key, until: try row.decode("backlog_until", as: Date.self)))
                } else if try row.decode("id", as: Int64?.self) == nil {
                    result.soonest = try row.decode("backlog_until", as: Date?.self)
                    result.excess = try row.decode("lease_excess", as: Int?.self) ?? 0
                } else {
                    rows.append(row)
                }
            }
            guard !rows.isEmpty else { return result }
            held = rows.compactMap { try? $0.decode("id", as: Int64.self) }
            leasedRows.insert(held)
            // A full batch: there is likely more due work than this slot takes. Wake an idle slot now, while
            // this one sends, not after its round: after a burst, idle slots join one lease later instead
            // of one round later. (A budget-bound single lease is never full by this measure.)
            if rows.count >= configuration.batchSize { await doorbell.ring() }

            // Triage.
            let triage = LeaseTriage(poisonThreshold: configuration.poisonThreshold)
            var finished: [Completion] = []
            var toSend: [LeasedDelivery] = []
            for row in rows {
                let decoded = LeasedDelivery.decode(row)
                switch (triage.decide(decoded), try? decoded.get()) {
                case (.send, let delivery?): toSend.append(delivery)
                case (.park, let delivery?): finished.append(parked(delivery))
                case (.failDisabled, let delivery?): finished.append(disabled(delivery))
                case (.wait(_, let until), let delivery?): finished.append(deferral(delivery, until: until))
                case (.failUnreadable(let error), _): finished.append(unreadable(error))
                default: break
                }
            }

            // Spans (only with a tracer bootstrapped): every one started here ends below or in `catch`.
            let spans = RoundSpans.begin(
                slot: index, workerID: configuration.workerID, leaseStart: leaseInstant, leaseAnswered: leaseAnswered,
                leased: rows.count, sending: toSend)
            // Large bodies: only what the worker's byte budget admits is fetched and sent this round.
            let (admitted, waiting, reservedBytes) = try await fetchLargeBodies(toSend, on: tx)
            defer { budget.release(reservedBytes) }
            finished += waiting.map { deferral($0, until: now()) }
            result.waitingForBudget = waiting.count
            result.releasedBytes = reservedBytes
            do {
                let sent = try await sendAndComplete(
                    admitted, finished: finished, result: &result, tx: tx, leaseStart: leaseStart, spans: spans, permit: permit)
                result.leased = rows.count
                result.sent = sent
                spans?.end(sent: sent)
                return result
            } catch {
                spans?.end(error: error)
                throw error
            }
        }
    }

    /// Stages 3 and 4 of a round: journal, send, complete (with `COMMIT`); returns how many were sent.
    private func sendAndComplete(
        _ toSend: [LeasedDelivery], finished: [Completion], result: inout RoundResult, tx: PGConnection,
        leaseStart: ContinuousClock.Instant, spans: RoundSpans?, permit: HeldPermit?
    ) async throws -> Int {
        var finished = finished
        // Send: every send on record first (and rate limits reserved); if that fails nothing is sent.
        let journalStart = DefaultTracerClock.now
        let entries = try await journal.begin(toSend.map { d in
            AttemptMarker(
                deliveryID: d.id, attempt: d.attemptNumber, workerID: configuration.workerID, startedAt: now(),
                breakerKey: d.breakerKey, ratePerMinute: d.rateLimitPerMinute)
        })
        var attemptIDs: [Int64: Int64] = [:]
        var sendable: [(LeasedDelivery, Duration)] = []
        for delivery in toSend {
            switch entries[delivery.id] {
            case .recorded(let attemptID, let after)?:
                attemptIDs[delivery.id] = attemptID
                sendable.append((delivery, after))
            case .rateLimited(let until)?:
                finished.append(deferral(delivery, until: until))
                result.soonest = min(result.soonest ?? until, until)
            case nil:
                // Nothing has been sent: the rows already journaled go, so they never read as a death mid-send.
                await journal.abandon(
                    began: [], neverBegan: entries.values.compactMap { if case .recorded(let id, _) = $0 { id } else { nil } },
                    reason: "not sent: the attempt journal's answer was incomplete")
                throw PGError(.server, message: "the attempt journal returned no row for delivery \(delivery.id)")
            }
        }
        spans?.stage("herald.journal", from: journalStart)
        let deadline = leaseStart + configuration.sendDeadline
        let (sent, heldBack) = try await sendAll(
            sendable, attemptIDs: attemptIDs, lease: tx, deadline: deadline, spans: spans, permit: permit)
        finished += heldBack.map { delivery in
            var completion = deferral(delivery, until: now())
            completion.attemptID = attemptIDs[delivery.id]  // its journal row goes: it was never sent
            return completion
        }

        // Complete.
        let records = BreakerBatch.records(sent.map(\.breakerSend), now: now())
        let lessons = EndpointOutcomeBatch.records(sent.map(\.endpointSend))
        let written: CompletionResults
        let completions = sent.map(\.completion) + finished
        // The slot comes back for what this round put back (retries, deferrals) when it falls due: with less
        // than a full batch leased it waits for a ring instead of leasing again at once.
        for completion in completions where completion.state == .pending {
            if let due = completion.nextAttemptAt { result.soonest = min(result.soonest ?? due, due) }
        }
        let completeStart = DefaultTracerClock.now
        do {
            written = try await complete(completions, breakers: records, endpoints: lessons, on: tx)
            spans?.stage("herald.complete", from: completeStart)
        } catch {
            spans?.stage("herald.complete", from: completeStart, error: error)
            // The lease ended (or the database went away) before the outcomes were recorded: this live
            // worker settles its journal rows, so they never read as a death mid-send (parking).
            await journal.abandon(
                began: sent.compactMap(\.completion.attemptID), neverBegan: heldBack.compactMap { attemptIDs[$0.id] },
                reason: "the outcome could not be recorded (the lease ended) while the worker was alive")
            throw error
        }
        for attempt in sent {
            metrics.deliveries[attempt.completion.outcome.rawValue]?.increment()
            metrics.attemptNumbers.record(Double(attempt.completion.attempt))
        }
        minutes.record(sent.map { ($0.endpointSend.endpointID, $0.completion.outcome == .delivered, $0.completion.durationMilliseconds) })
        if let transitions = written.breakers { result.backlogs += logTransitions(transitions) }
        if let disabled = written.endpoints { logDisabled(disabled) }
        return sent.count
    }

    /// Reserves the worker's byte budget for the bodies over the inline limit, in lease order, and fetches
    /// those it admits in binary (one round trip); returns the deliveries to send, those that wait for a
    /// later round (unsent, no attempt spent), and the bytes to release when the round ends.
    func fetchLargeBodies(
        _ deliveries: [LeasedDelivery], on tx: PGConnection
    ) async throws -> (admitted: [LeasedDelivery], waiting: [LeasedDelivery], reservedBytes: Int) {
        let large = deliveries.filter { !$0.bodyFetched }
        guard !large.isEmpty else { return (deliveries, [], 0) }
        let (count, bytes) = budget.reserve(large.map(\.bodyBytes))
        let fetching = Array(large.prefix(count))
        let waiting = Set(large.dropFirst(count).map(\.id))
        var bodies: [Int64: [UInt8]] = [:]
        do {
            // One body per round trip: libpq keeps its input buffer at the largest message it received, so
            // a batch of bodies in one result would leave that much memory on every slot's connection.
            for delivery in fetching {
                bodies[delivery.id] = try await tx.queryBytes(store.bodyQuery(ids: [delivery.id])).first ?? nil
            }
        } catch {
            budget.release(bytes)
            throw error
        }
        var admitted: [LeasedDelivery] = []
        for var delivery in deliveries where !waiting.contains(delivery.id) {
            if !delivery.bodyFetched {
                // Pruned between the lease and this read: sent as the empty body it now is would be wrong.
                guard let body = bodies[delivery.id] else { continue }
                delivery.body = body
                delivery.bodyFetched = true
            }
            admitted.append(delivery)
        }
        if !waiting.isEmpty {
            logger.debug(
                "large bodies wait for the byte budget", metadata: ["slot": "\(index)", "deliveries": "\(waiting.count)", "in_use": "\(budget.inUse)"])
        }
        return (admitted, deliveries.filter { waiting.contains($0.id) }, bytes)
    }
}
