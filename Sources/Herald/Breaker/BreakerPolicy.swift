/// When a breaker opens and for how long.
///
/// Defaults: open after 5 consecutive retryable failures, for 30 s, doubling on each consecutive trip up
/// to 10 min. Set per worker (`herald worker --breaker-threshold --breaker-cooldown --breaker-cooldown-cap`)
/// and per endpoint (`endpoints.breaker_failure_threshold`, `breaker_cooldown_ms`, `breaker_cooldown_cap_ms`).
public struct BreakerPolicy: Sendable, Hashable {
    /// Consecutive retryable failures that open the breaker: 1…1000.
    public var failureThreshold: Int
    /// The first cool-down: at least 1 s.
    public var cooldown: Duration
    /// The longest cool-down: at least `cooldown`, at most 1 day.
    public var cooldownCap: Duration

    /// The bound of ``failureThreshold``.
    public static let failureThresholdRange = 1...1000

    public static let `default` = try! BreakerPolicy(failureThreshold: 5, cooldown: .seconds(30), cooldownCap: .seconds(600))

    /// - Throws: ``HeraldError/Code/invalidInput`` naming the setting out of range.
    public init(failureThreshold: Int, cooldown: Duration, cooldownCap: Duration) throws {
        guard Self.failureThresholdRange.contains(failureThreshold) else {
            throw HeraldError.invalid("breaker threshold must be between 1 and 1000, got \(failureThreshold)")
        }
        guard cooldown >= .seconds(1) else { throw HeraldError.invalid("breaker cool-down must be at least 1s, got \(cooldown)") }
        guard cooldownCap >= cooldown, cooldownCap <= .seconds(86_400) else {
            throw HeraldError.invalid("breaker cool-down cap must be between the cool-down (\(cooldown)) and 1 day, got \(cooldownCap)")
        }
        self.failureThreshold = failureThreshold
        self.cooldown = cooldown
        self.cooldownCap = cooldownCap
    }

    /// The cool-down after the `trip`-th consecutive trip (1-based): `min(cap, cooldown × 2^(trip-1))`.
    public func cooldown(forTrip trip: Int) -> Duration {
        let seconds = cooldown.seconds * Double(1 << min(max(trip - 1, 0), 30))
        return .seconds(min(cooldownCap.seconds, seconds))
    }

    /// This policy with an endpoint's overrides (nil keeps this policy's value; out-of-range pairs fall back).
    public func overridden(threshold: Int?, cooldownMilliseconds: Int?, capMilliseconds: Int?) -> BreakerPolicy {
        let cooldown = cooldownMilliseconds.map { Duration.milliseconds($0) } ?? self.cooldown
        let cap = capMilliseconds.map { Duration.milliseconds($0) } ?? self.cooldownCap
        return (try? BreakerPolicy(failureThreshold: threshold ?? failureThreshold, cooldown: cooldown, cooldownCap: max(cap, cooldown)))
            ?? self
    }
}
