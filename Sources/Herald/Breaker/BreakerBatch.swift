internal import Foundation

/// Folds one batch's sends into one ``BreakerRecord`` per breaker key: what `breaker_record`
/// (migrations/0008) applies atomically at the batch's commit. A pure function, unit-tested.
///
/// What each answer says about the endpoint:
/// - 2xx: a success (grows the window; resets consecutive failures);
/// - 5xx, 408, timeouts, connection errors: a failure (counts toward the trip; halves the window);
/// - 429, and 503 with a `Retry-After`: the endpoint is up but asks us to slow down. Not a failure (never
///   trips the breaker), but the window halves and the whole key waits as long as it asked;
/// - other 4xx and 3xx: say nothing about the endpoint being down;
/// - a send refused before it left (SSRF guard): says nothing, and is never a successful probe.
enum BreakerBatch {
    /// One send, as the breaker sees it.
    struct Send: Sendable {
        var key: String
        var deliveryID: Int64
        var probe: Bool
        var result: AttemptResult
        /// The redacted reason recorded for the attempt, for the breaker event.
        var reason: String?
        var policy: BreakerPolicy
        /// The key's window cap.
        var cap: Int
        /// The lease saw the key closed, without failures, its window already at the cap: a batch of only
        /// successes then has nothing to change, and writes nothing (a hot row per batch would serialise
        /// every slot).
        var leaseSawSteadyState: Bool
    }

    /// The breaker's reading of one result: success, failure, or neither; and a requested slow-down.
    static func signal(_ result: AttemptResult, now: Date) -> (success: Bool?, congested: Bool, retryAfter: Duration?) {
        if case .response(let status, let header) = result, status == 429 || (status == 503 && header != nil) {
            let wait = RetryAfter.parse(header, now: now)
            if status == 429 || wait != nil { return (nil, true, wait) }
        }
        switch result.classification {
        case .success: return (true, false, nil)
        case .retryable: return (false, true, nil)
        case .permanent: return (nil, false, nil)
        }
    }

    /// The longest a `Retry-After` defers a whole key: 1 day.
    static let longestDeferral: Duration = .seconds(86_400)

    static func records(_ sends: [Send], now: Date) -> [BreakerRecord] {
        var byKey: [String: [Send]] = [:]
        var order: [String] = []
        for send in sends {
            if byKey[send.key] == nil { order.append(send.key) }
            byKey[send.key, default: []].append(send)
        }
        return order.sorted().map { key -> BreakerRecord in
            let batch = byKey[key]!
            let readings = batch.map { signal($0.result, now: now) }
            let outcomes = CircuitBreakerStateMachine.Outcomes(readings.compactMap(\.success))
            let congested = readings.contains { $0.congested }
            // Bounded like a delivery's own Retry-After wait: an endpoint asking for years must not overflow
            // the record (a refused breaker write would roll back answered sends) or silence a key forever.
            let retryAfter = readings.compactMap(\.retryAfter).max().map { min($0, Self.longestDeferral) }
            let probe = batch.contains { $0.probe }
            // Successes only, and the lease saw the key steady: written only if the key is no longer
            // steady when the batch commits (another batch recorded a failure meanwhile), never blindly.
            let onlyIfUnsteady = !probe && outcomes.failures == 0 && !congested && batch.allSatisfy(\.leaseSawSteadyState)
            // A probe succeeds when the endpoint answered at all with something other than "down".
            let probeOK = probe && batch.contains { send in
                guard let status = send.result.status else { return false }
                return send.result.classification != .retryable || status == 429
            }
            let policy = batch[0].policy
            let lastFailure = Array(zip(batch, readings)).last { $0.1.success == false }?.0
            return BreakerRecord(
                key: key, successes: outcomes.successes, failures: outcomes.failures, trailingFailures: outcomes.trailingFailures,
                probe: probe, probeOK: probeOK, threshold: policy.failureThreshold,
                cooldownMilliseconds: Int(policy.cooldown.seconds * 1000), cooldownCapMilliseconds: Int(policy.cooldownCap.seconds * 1000),
                deliveryID: (lastFailure ?? batch[batch.count - 1]).deliveryID, reason: lastFailure?.reason,
                congested: congested, retryAfterMilliseconds: retryAfter.map { Int($0.seconds * 1000) }, cap: batch[0].cap,
                onlyIfUnsteady: onlyIfUnsteady)
        }
    }
}
