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
    /// The statements run after a savepoint: if the database refuses the completion (a constraint, a
    /// trigger, a value it cannot store), the round goes back to the savepoint, with its row locks and
    /// permits still held, and completes the deliveries one at a time; a delivery whose own completion is
    /// refused is failed with the database's reason instead, so one bad row never stalls its batch or has
    /// its answered sends repeated.
    func complete(
        _ completions: [Completion], breakers records: [BreakerRecord], endpoints outcomes: [EndpointOutcome], on tx: PGConnection
    ) async throws -> CompletionResults {
        let breakers: [PGQuery] = records.isEmpty ? [] : [store.recordBreakersQuery(records)]
        let endpoints: [PGQuery] =
            outcomes.isEmpty ? [] : [store.recordEndpointOutcomesQuery(outcomes, disableAfter: configuration.disableFailingAfter)]
        do {
            let results = try await tx.commit(with: ["SAVEPOINT completion", store.completeQuery(completions)] + breakers + endpoints)
            return CompletionResults(
                breakers: breakers.isEmpty ? nil : results[2],
                endpoints: endpoints.isEmpty ? nil : results[2 + breakers.count])
        } catch let error as PGError where error.code == .server {
            logger.warning(
                "the completion was refused; completing the batch one delivery at a time",
                metadata: ["slot": "\(index)", "error": "\(error)"])
            try await tx.query("ROLLBACK TO SAVEPOINT completion")
            for completion in completions {
                try await tx.query("SAVEPOINT one")
                do {
                    try await tx.query(store.completeQuery([completion]))
                    try await tx.query("RELEASE SAVEPOINT one")
                } catch let refused as PGError where refused.code == .server {
                    try await tx.query("ROLLBACK TO SAVEPOINT one")
                    try await tx.query(store.completeQuery([self.refused(completion, because: refused)]))
                }
            }
            // The breaker and endpoint records go in savepoints of their own too: if even they are refused,
            // the answered sends are still recorded, and only the breaker (or the endpoint's lifecycle)
            // misses this batch.
            var results = CompletionResults()
            results.breakers = try await optional(breakers.first, named: "breaker records", on: tx)
            results.endpoints = try await optional(endpoints.first, named: "endpoint records", on: tx)
            try await tx.commit(with: [])
            return results
        }
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
