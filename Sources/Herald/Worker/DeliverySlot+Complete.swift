internal import Foundation
internal import Logging
internal import PGDriver

/// The complete stage of a round.
extension DeliverySlot {
    /// What the completion's breaker and endpoint records returned (nil when there were none).
    struct CompletionResults {
        var breakers: PGResult?
        var endpoints: PGResult?
    }

    /// Writes the batch's outcomes, breaker records and endpoint lessons, and commits, in one round trip.
    ///
    /// No savepoint on this path: a subtransaction that updates rows its parent locked turns every
    /// completed row's `xmax` into a MultiXact, which every later scan of those row versions (the due index's
    /// head, pruning, vacuum) must resolve. Measured at the defaults (bench drain, 10 endpoints): with the
    /// savepoint PostgreSQL spent its time in `GetMultiXactIdMembers` and the drain ran at about 2,000/s
    /// (docs/benchmarks.md).
    ///
    /// If the database refuses the completion (a constraint, a trigger, a value it cannot store), the
    /// transaction is rolled back, the rows are taken back in a new one (``refusedCompletion``) and
    /// completed one at a time; a delivery whose own completion is refused is failed with the database's
    /// reason instead, so one bad row never stalls its batch or has its answered sends repeated.
    func complete(
        _ completions: [Completion], breakers records: [BreakerRecord], endpoints outcomes: [EndpointOutcome], on tx: PGConnection
    ) async throws -> CompletionResults {
        let breakers: [PGQuery] = records.isEmpty ? [] : [store.recordBreakersQuery(records)]
        let endpoints: [PGQuery] =
            outcomes.isEmpty ? [] : [store.recordEndpointOutcomesQuery(outcomes, disableAfter: configuration.disableFailingAfter)]
        do {
            let results = try await tx.commit(with: [store.completeQuery(completions)] + breakers + endpoints)
            return CompletionResults(
                breakers: breakers.isEmpty ? nil : results[1],
                endpoints: endpoints.isEmpty ? nil : results[1 + breakers.count])
        } catch let error as PGError where error.code == .server {
            logger.warning(
                "the completion was refused; completing the batch one delivery at a time",
                metadata: ["slot": "\(index)", "error": "\(error)"])
            return try await refusedCompletion(completions, breakers: breakers.first, endpoints: endpoints.first, on: tx)
        }
    }

    /// The rare path after a refused completion: the rollback released the batch's row locks and permits,
    /// so the rows are locked again in a new transaction, waiting for any that another slot leased in the
    /// moment between (that lease finds our `unknown` journal rows and only defers them; `relockQuery`).
    /// With `SKIP LOCKED` here such rows were sent a second time 25 s later (found by the full suite on a
    /// loaded machine). Each delivery is then completed in a savepoint of its own; breaker and endpoint
    /// records go in savepoints too, so if even they are refused the answered sends are still recorded and
    /// only the breaker (or the endpoint's lifecycle) misses this batch. Journal rows of deliveries no
    /// longer pending (an operator cancelled them meanwhile) become 'interrupted', which never counts
    /// toward parking.
    private func refusedCompletion(
        _ completions: [Completion], breakers: PGQuery?, endpoints: PGQuery?, on tx: PGConnection
    ) async throws -> CompletionResults {
        await tx.rollback()
        try await tx.query("BEGIN")
        let held = try await tx.query(store.relockQuery(completions.map(\.deliveryID)))
        let ids = Set(try held.rows.map { try $0.decode("id", as: Int64.self) })
        for completion in completions where ids.contains(completion.deliveryID) {
            try await tx.query("SAVEPOINT one")
            do {
                try await tx.query(store.completeQuery([completion]))
                try await tx.query("RELEASE SAVEPOINT one")
            } catch let refused as PGError where refused.code == .server {
                try await tx.query("ROLLBACK TO SAVEPOINT one")
                try await tx.query(store.completeQuery([self.refused(completion, because: refused)]))
            }
        }
        var results = CompletionResults()
        results.breakers = try await optional(breakers, named: "breaker records", on: tx)
        results.endpoints = try await optional(endpoints, named: "endpoint records", on: tx)
        try await tx.commit(with: [])
        let lost = completions.filter { !ids.contains($0.deliveryID) }
        if !lost.isEmpty {
            await journal.abandon(
                began: lost.filter(\.logAttempt).compactMap(\.attemptID),
                neverBegan: lost.filter { !$0.logAttempt }.compactMap(\.attemptID),
                reason: "the outcome was refused by the database and the delivery was no longer pending when taken back")
        }
        return results
    }

    /// Runs `query` (if any) in a savepoint; a refusal is logged and rolled back, never fatal.
    private func optional(_ query: PGQuery?, named what: String, on tx: PGConnection) async throws -> PGResult? {
        guard let query else { return nil }
        try await tx.query("SAVEPOINT optional")
        do {
            let result = try await tx.query(query)
            try await tx.query("RELEASE SAVEPOINT optional")
            return result
        } catch let refused as PGError where refused.code == .server {
            try await tx.query("ROLLBACK TO SAVEPOINT optional")
            logger.error("the \(what) were refused; this batch is not counted", metadata: ["error": "\(refused)"])
            return nil
        }
    }

    /// What a delivery becomes when the database refuses its completion: failed, with the reason, and its
    /// attempt row (if it has one) closed with only the outcome, so nothing that may have been refused is
    /// written again.
    func refused(_ completion: Completion, because error: PGError) -> Completion {
        logger.error(
            "delivery failed: the database refused its completion", metadata: ["delivery_id": "\(completion.deliveryID)", "error": "\(error)"])
        var failed = completion
        failed.state = .failed
        failed.outcome = .failed
        failed.nextAttemptAt = nil
        failed.retryable = false
        failed.requestHeaders = [:]
        failed.responseExcerpt = nil
        failed.error = String("the database refused to record this delivery's outcome (\(error.sqlState ?? "?")): \(error.message)".prefix(1000))
        return failed
    }
}
