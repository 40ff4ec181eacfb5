public import Foundation

/// The delivery engine's rules, as a pure value: given a delivery's attempt count, what happened on the
/// wire and the time, it says what the delivery becomes. No I/O, so every rule has a unit test; the
/// worker applies the decision to the database in one statement.
public struct DeliveryStateMachine: Sendable {
    /// The effective retry policy (worker defaults with the endpoint's and delivery's overrides).
    public var policy: RetryPolicy
    /// Bounds for an endpoint's `Retry-After`: never sooner than `minimum`, never later than the policy cap.
    public var retryAfterMinimum: Duration = .seconds(1)

    public init(policy: RetryPolicy) { self.policy = policy }

    /// What the engine does with a delivery after an attempt.
    public struct Decision: Sendable, Hashable {
        /// The delivery's new state.
        public var state: DeliveryState
        /// The delivery's attempt count after this attempt.
        public var attempts: Int
        /// When to try again, for `pending`.
        public var nextAttemptAt: Date?
        /// The attempt log's outcome for this attempt.
        public var outcome: Outcome
        /// Whether the failure was of a retryable kind.
        public var retryable: Bool
        /// Why the delivery ended or is retried, for `last_error`; nil on success.
        public var reason: String?
    }

    /// The attempt log's outcome column.
    public enum Outcome: String, Sendable, Hashable, Codable {
        case delivered, retry, failed, dead
        /// The send began but its result was never recorded (the worker died or wedged).
        case unknown
    }

    /// Decides after attempt number `attemptsBefore + 1` ended with `result` at `now`.
    public func decide(
        attemptsBefore: Int, result: AttemptResult, now: Date, random: inout some RandomNumberGenerator
    ) -> Decision {
        let attempts = attemptsBefore + 1
        switch result.classification {
        case .success:
            return Decision(state: .delivered, attempts: attempts, nextAttemptAt: nil, outcome: .delivered, retryable: false, reason: nil)
        case .permanent:
            return Decision(
                state: .failed, attempts: attempts, nextAttemptAt: nil, outcome: .failed, retryable: false,
                reason: result.summary)
        case .retryable:
            guard attempts < policy.maxAttempts else {
                return Decision(
                    state: .dead, attempts: attempts, nextAttemptAt: nil, outcome: .dead, retryable: true,
                    reason: "\(result.summary) (attempt \(attempts) of \(policy.maxAttempts), no attempts left)")
            }
            let wait = retryAfter(result, now: now) ?? policy.delay(afterAttempt: attempts, using: &random)
            return Decision(
                state: .pending, attempts: attempts, nextAttemptAt: now.addingTimeInterval(wait.seconds), outcome: .retry,
                retryable: true, reason: result.summary)
        }
    }

    /// Decides for a delivery whose endpoint is disabled: it fails at once, without an attempt, so it is
    /// neither sent nor retried forever. Replaying it after re-enabling the endpoint sends it.
    public func decideDisabled(attempts: Int, reason: String?) -> Decision {
        Decision(
            state: .failed, attempts: attempts, nextAttemptAt: nil, outcome: .failed, retryable: false,
            reason: "endpoint disabled: \(reason ?? "no reason given")")
    }

    /// The `Retry-After` wait for 429 and 503, clamped to `[retryAfterMinimum, policy.cap]`.
    func retryAfter(_ result: AttemptResult, now: Date) -> Duration? {
        guard case .response(let status, let header) = result, status == 429 || status == 503,
            let asked = RetryAfter.parse(header, now: now)
        else { return nil }
        return min(max(asked, retryAfterMinimum), policy.cap)
    }
}
