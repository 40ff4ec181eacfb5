internal import Logging
internal import PGDriver

/// The circuit-breaker side of a round: what a batch's sends say about each breaker key.
extension DeliverySlot {
    /// Folds a batch's sends into one ``BreakerRecord`` per breaker key.
    func breakerRecords(_ sent: [SentAttempt]) -> [BreakerRecord] {
        var byKey: [String: [SentAttempt]] = [:]
        for attempt in sent where attempt.completion.log_attempt { byKey[attempt.delivery.breakerKey, default: []].append(attempt) }
        return byKey.compactMap { key, attempts -> BreakerRecord? in
            // Non-retryable answers (4xx) say nothing about the endpoint being down: they neither count
            // nor reset, except that a probe answered at all proves the endpoint is up.
            let signals = attempts.compactMap(\.classification.breakerSignal)
            let outcomes = CircuitBreakerStateMachine.Outcomes(signals)
            let probe = attempts.contains { $0.probe }
            // The healthy common case writes nothing: only successes, and the lease saw the breaker closed
            // with no failures. Every worker updating one hot breaker row per batch would serialise them all.
            if !probe, outcomes.failures == 0,
                attempts.allSatisfy({ $0.delivery.breakerState == "closed" && $0.delivery.breakerFailures == 0 })
            {
                return nil
            }
            let policy = attempts[0].delivery.breakerPolicy(base: configuration.breakerPolicy)
            let lastFailure = attempts.last { $0.classification == .retryable }
            return BreakerRecord(
                key: key, successes: outcomes.successes, failures: outcomes.failures, trailing_failures: outcomes.trailingFailures,
                probe: probe, probe_ok: probe && attempts.contains { $0.classification != .retryable },
                threshold: policy.failureThreshold, cooldown_ms: Int(policy.cooldown.seconds * 1000),
                cooldown_cap_ms: Int(policy.cooldownCap.seconds * 1000),
                delivery_id: (lastFailure ?? attempts[attempts.count - 1]).delivery.id, reason: lastFailure?.completion.error)
        }
    }

    func logTransitions(_ result: PGResult) {
        for row in result.rows {
            guard let state = try? row.decode("breaker_state", as: String.self),
                let previous = try? row.decode("breaker_previous_state", as: String.self), state != previous
            else { continue }
            metrics.breakerTransitions[state]?.increment()
            logger.notice("circuit breaker \(state)", metadata: ["from": "\(previous)", "to": "\(state)"])
        }
    }
}
