internal import Foundation
internal import PGDriver

/// A delivery leased by a worker slot, with what it needs to send it.
struct LeasedDelivery: Sendable {
    var id: Int64
    var idempotencyKey: String
    var body: [UInt8]
    var contentType: String
    var headers: [String: String]
    var attempts: Int
    var maxAttempts: Int?
    var breakerKey: String
    var endpointID: Int64
    var url: String
    var secret: String
    var previousSecret: String?
    var enabled: Bool
    var disabledReason: String?
    var endpointMaxAttempts: Int?
    var backoffBaseMilliseconds: Int?
    var backoffCapMilliseconds: Int?
    var breakerThreshold: Int?
    var breakerCooldownMilliseconds: Int?
    var breakerCooldownCapMilliseconds: Int?
    /// The breaker as the lease saw it, judged by the database's clock.
    var breakerState: String
    var breakerOpenUntil: Date?
    var breakerProbeDue: Bool
    var breakerFailures: Int
    /// Latest consecutive attempts that never finished (their worker died or wedged mid-send).
    var interrupted: Int
    /// When the latest interrupted send started (its request may still be open at the receiver).
    var lastUnknownAt: Date?

    init(row: PGRow) throws {
        id = try row.decode("id")
        idempotencyKey = try row.decode("idempotency_key")
        body = try row.decode("body")
        contentType = try row.decode("content_type")
        headers = try row.decode("headers", as: PGJSON.self).decode([String: String].self)
        attempts = try row.decode("attempts")
        maxAttempts = try row.decode("max_attempts")
        breakerKey = try row.decode("breaker_key")
        endpointID = try row.decode("endpoint_id")
        url = try row.decode("url")
        secret = try row.decode("secret")
        previousSecret = try row.decode("previous_secret")
        enabled = try row.decode("enabled")
        disabledReason = try row.decode("disabled_reason")
        endpointMaxAttempts = try row.decode("endpoint_max_attempts")
        backoffBaseMilliseconds = try row.decode("backoff_base_ms")
        backoffCapMilliseconds = try row.decode("backoff_cap_ms")
        breakerThreshold = try row.decode("breaker_failure_threshold")
        breakerCooldownMilliseconds = try row.decode("breaker_cooldown_ms")
        breakerCooldownCapMilliseconds = try row.decode("breaker_cooldown_cap_ms")
        breakerState = try row.decode("breaker_state")
        breakerOpenUntil = try row.decode("breaker_open_until")
        breakerProbeDue = try row.decode("breaker_probe_due")
        breakerFailures = try row.decode("breaker_failures")
        interrupted = try row.decode("interrupted")
        lastUnknownAt = try row.decode("last_unknown_at")
    }

    /// What the breaker allows: send, probe (after claiming it), or wait.
    var gate: CircuitBreakerStateMachine.Gate {
        guard breakerState != "closed", let until = breakerOpenUntil else { return .send }
        return breakerProbeDue ? .probe : .wait(until: until)
    }

    /// The worker's breaker policy with this endpoint's overrides.
    func breakerPolicy(base: BreakerPolicy) -> BreakerPolicy {
        base.overridden(threshold: breakerThreshold, cooldownMilliseconds: breakerCooldownMilliseconds, capMilliseconds: breakerCooldownCapMilliseconds)
    }

    /// The worker's policy with this endpoint's and this delivery's overrides.
    func policy(base: RetryPolicy) -> RetryPolicy {
        base.overridden(
            maxAttempts: maxAttempts ?? endpointMaxAttempts, baseMilliseconds: backoffBaseMilliseconds,
            capMilliseconds: backoffCapMilliseconds)
    }
}
