internal import Foundation
internal import Logging
internal import PGDriver

/// Deliveries a round finishes or puts back without sending them, and the breaker's news.
extension DeliverySlot {
    /// A delivery of a disabled endpoint: failed with the endpoint's reason, never sent.
    func disabled(_ delivery: LeasedDelivery) -> Completion {
        let machine = DeliveryStateMachine(policy: delivery.policy(base: configuration.retryPolicy))
        let decision = machine.decideDisabled(attempts: delivery.attempts, reason: delivery.disabledReason)
        logger.info("delivery failed: endpoint disabled", metadata: ["delivery_id": "\(delivery.id)"])
        var completion = deferral(delivery, until: now())
        completion.state = decision.state
        completion.outcome = decision.outcome
        completion.retryable = false
        completion.error = decision.reason
        return completion
    }

    /// A delivery whose last sends all died with their workers: parked as dead, not sent again.
    func parked(_ delivery: LeasedDelivery) -> Completion {
        logger.warning("parking a delivery whose sends keep interrupting workers", metadata: ["delivery_id": "\(delivery.id)", "interrupted": "\(delivery.interrupted)"])
        var completion = deferral(delivery, until: now())
        completion.state = .dead
        completion.outcome = .dead
        completion.retryable = false
        completion.interrupted = delivery.interrupted
        completion.error = "parked: its last \(delivery.interrupted) sends never finished (the worker was killed or wedged mid-send); "
            + "replay it once the cause is fixed"
        return completion
    }

    /// A leased row that could not be read: failed alone, with the reason, so it never stalls its batch.
    func unreadable(_ error: LeaseRowError) -> Completion {
        logger.error("delivery failed: its row could not be read", metadata: ["delivery_id": "\(error.id)", "error": "\(error.reason)"])
        return Completion(
            deliveryID: error.id, attempt: 0, state: .failed, attempts: nil, nextAttemptAt: nil, statusCode: nil,
            error: "not sent: \(error.reason); fix the row and replay it", startedAt: now(), durationMilliseconds: 0,
            requestHeaders: [:], responseExcerpt: nil, retryable: false, outcome: .failed, workerID: configuration.workerID,
            logAttempt: false, attemptID: nil, interrupted: nil)
    }

    /// A delivery put back for later without a send: no attempt spent, no attempt row.
    func deferral(_ delivery: LeasedDelivery, until: Date) -> Completion {
        Completion(
            deliveryID: delivery.id, attempt: delivery.attemptNumber, state: .pending, attempts: delivery.attempts,
            nextAttemptAt: until, statusCode: nil, error: nil, startedAt: now(), durationMilliseconds: 0, requestHeaders: [:],
            responseExcerpt: nil, retryable: true, outcome: .retry, workerID: configuration.workerID, logAttempt: false,
            attemptID: nil, interrupted: nil)
    }

    /// Counts and logs each breaker transition the completion reported, naming the breaker; returns the
    /// backlogs of breakers that just opened (the trip moved only a bounded part of them).
    func logTransitions(_ result: PGResult) -> [Backlog] {
        var backlogs: [Backlog] = []
        for row in result.rows {
            guard let state = try? row.decode("breaker_state", as: String.self),
                let previous = try? row.decode("breaker_previous_state", as: String.self), state != previous
            else { continue }
            let key = (try? row.decode("breaker_key", as: String.self)) ?? "?"
            metrics.breakerTransitions[state]?.increment()
            logger.notice("circuit breaker \(key) \(state)", metadata: ["breaker": "\(key)", "from": "\(previous)", "to": "\(state)"])
            if state == "open", let until = try? row.decode("breaker_open_until", as: Date.self) {
                backlogs.append(Backlog(key: key, until: until))
            }
        }
        return backlogs
    }

    /// Logs and counts the endpoints a batch's completion disabled (410 Gone, sustained failure).
    func logDisabled(_ result: PGResult) {
        for row in result.rows {
            guard let id = try? row.decode("disabled_endpoint_id", as: Int64.self) else { continue }
            let why = (try? row.decode("disabled_why", as: String.self)) ?? "?"
            metrics.endpointsDisabled[why.contains("410") ? "gone" : "failing"]?.increment()
            logger.warning("endpoint \(id) disabled: \(why)", metadata: ["endpoint_id": "\(id)", "reason": "\(why)"])
        }
    }
}
