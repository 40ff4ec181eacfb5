internal import Foundation
internal import Logging
internal import PGDriver

/// The complete stage of a round.
extension DeliverySlot {
    /// Writes the batch's outcomes and breaker records and commits, in one round trip.
    ///
    /// The statements run after a savepoint: if the database refuses the completion (a constraint, a
    /// trigger, a value it cannot store), the round goes back to the savepoint, with its row locks and
    /// permits still held, and completes the deliveries one at a time; a delivery whose own completion is
    /// refused is failed with the database's reason instead, so one bad row never stalls its batch or has
    /// its answered sends repeated. Returns the breaker records' results (empty if none).
    func complete(_ completions: [Completion], breakers records: [BreakerRecord], on tx: PGConnection) async throws -> PGResult? {
        let breakers: [PGQuery] = records.isEmpty ? [] : [store.recordBreakersQuery(records)]
        do {
            let results = try await tx.commit(with: ["SAVEPOINT completion", store.completeQuery(completions)] + breakers)
            return results.count > 2 ? results[2] : nil
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
            // The breaker records go in a savepoint of their own too: if even they are refused, the answered
            // sends are still recorded, and only the breaker misses this batch.
            var transitions: PGResult?
            if !breakers.isEmpty {
                try await tx.query("SAVEPOINT breakers")
                do {
                    transitions = try await tx.query(breakers[0])
                    try await tx.query("RELEASE SAVEPOINT breakers")
                } catch let refused as PGError where refused.code == .server {
                    try await tx.query("ROLLBACK TO SAVEPOINT breakers")
                    logger.error("the breaker records were refused; this batch is not counted", metadata: ["error": "\(refused)"])
                }
            }
            try await tx.commit(with: [])
            return transitions
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
