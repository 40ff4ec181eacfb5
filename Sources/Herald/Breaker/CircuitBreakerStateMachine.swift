public import Foundation

/// The circuit breaker's transition rules as a pure value.
///
/// The database applies the same rules (`breaker_transition` in migrations/0003) inside one atomic
/// upsert, so every worker process agrees; this value exists so the rules have unit tests and so an
/// integration test can replay the database's updates and compare.
///
/// - closed: retryable failures count up; a success resets the count; reaching the threshold trips to
///   open for the cool-down of this trip (growing per consecutive trip, up to a cap).
/// - open: nothing is sent until `openUntil`; after it the breaker is half-open.
/// - half-open: exactly one probe; if the endpoint answers (2xx, or any non-retryable status) the breaker
///   closes, otherwise it opens again with the next, longer cool-down.
public struct CircuitBreakerStateMachine: Sendable, Hashable {
    /// Stored states (half-open is "open with `openUntil` passed", claimed by a probe's row lock).
    public enum State: String, Sendable, Hashable, Codable {
        case closed, open
        case halfOpen = "half_open"
    }

    public var state: State = .closed
    public var consecutiveFailures = 0
    /// Consecutive trips since the breaker last closed.
    public var trips = 0
    public var openUntil: Date?
    public var totalSuccesses = 0
    public var totalFailures = 0

    public init() {}

    /// One batch of outcomes for a breaker key (a single outcome is a batch of one).
    public struct Outcomes: Sendable, Hashable {
        public var successes: Int
        public var failures: Int
        /// Retryable failures after the last success (all of them when there was none).
        public var trailingFailures: Int
        /// Whether this batch is the half-open probe, and whether the endpoint answered it.
        public var probe: Bool
        public var probeOK: Bool

        public init(successes: Int, failures: Int, trailingFailures: Int, probe: Bool = false, probeOK: Bool = false) {
            self.successes = successes
            self.failures = failures
            self.trailingFailures = trailingFailures
            self.probe = probe
            self.probeOK = probeOK
        }

        /// Folds results in order: `true` a success, `false` a retryable failure.
        public init(_ results: [Bool]) {
            successes = results.filter { $0 }.count
            failures = results.count - successes
            trailingFailures = results.reversed().prefix { !$0 }.count
            probe = false
            probeOK = false
        }
    }

    /// Whether a delivery may be sent now, and if not, until when it waits.
    public enum Gate: Sendable, Hashable {
        case send
        /// Half-open: send only as the one probe (after claiming it).
        case probe
        case wait(until: Date)
    }

    /// What the breaker allows at `now`.
    public func gate(now: Date) -> Gate {
        guard state != .closed, let until = openUntil else { return .send }
        return until <= now ? .probe : .wait(until: until)
    }

    /// Applies `outcomes` at `now` under `policy`; returns the transition, if the state changed.
    @discardableResult
    public mutating func apply(_ outcomes: Outcomes, policy: BreakerPolicy, now: Date) -> (from: State, to: State)? {
        let before: State = outcomes.probe ? .halfOpen : state
        let failures = outcomes.successes > 0 ? outcomes.trailingFailures : consecutiveFailures + outcomes.trailingFailures
        totalSuccesses += outcomes.successes
        totalFailures += outcomes.failures
        if outcomes.probe && outcomes.probeOK {
            state = .closed
            consecutiveFailures = 0
            trips = 0
            openUntil = nil
        } else if outcomes.probe || (state == .closed && failures >= policy.failureThreshold) {
            trips += 1
            state = .open
            consecutiveFailures = failures
            openUntil = now.addingTimeInterval(policy.cooldown(forTrip: trips).seconds)
        } else {
            consecutiveFailures = failures
        }
        return before == state ? nil : (before, state)
    }
}
