/// How many times to try and how long to wait between tries.
///
/// Exponential backoff with full jitter and a cap: after failed attempt `n` (1-based) the next attempt
/// waits a uniformly random time in `[0, min(cap, base × factor^(n-1))]`. Full jitter spreads the
/// retries of many deliveries that failed together (an endpoint outage) instead of having them return
/// in waves. The defaults give ceilings of 5 s, 40 s, 5 min 20 s, 42 min 40 s, 5 h 41 min, 10 h, 10 h for
/// 8 attempts, in the spirit of the Standard Webhooks schedule.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, first included: 1…50. Default 8.
    public var maxAttempts: Int
    /// The first retry's ceiling: at least 1 s. Default 5 s.
    public var base: Duration
    /// The largest ceiling: at least `base`. Default 10 h.
    public var cap: Duration
    /// Growth per attempt: 1…100. Default 8.
    public var factor: Double

    /// The bound of ``maxAttempts``.
    public static let maxAttemptsRange = 1...50

    // The literals are in range; a failure here is a programming error caught by every test run.
    public static let `default` = try! RetryPolicy(maxAttempts: 8, base: .seconds(5), cap: .seconds(36_000), factor: 8)

    /// Builds and validates a policy.
    /// - Throws: ``HeraldError/Code/invalidInput`` naming the value that is out of range.
    public init(maxAttempts: Int, base: Duration, cap: Duration, factor: Double = 8) throws {
        guard Self.maxAttemptsRange.contains(maxAttempts) else {
            throw HeraldError.invalid("max attempts must be between 1 and 50, got \(maxAttempts)")
        }
        guard base >= .seconds(1) else { throw HeraldError.invalid("backoff base must be at least 1s, got \(base)") }
        guard cap >= base else { throw HeraldError.invalid("backoff cap (\(cap)) must be at least the base (\(base))") }
        guard cap <= .seconds(7 * 86_400) else { throw HeraldError.invalid("backoff cap must be at most 7 days, got \(cap)") }
        guard factor >= 1, factor <= 100 else { throw HeraldError.invalid("backoff factor must be between 1 and 100, got \(factor)") }
        self.maxAttempts = maxAttempts
        self.base = base
        self.cap = cap
        self.factor = factor
    }

    /// The ceiling of the wait after failed attempt `attempt` (1-based), before jitter.
    public func ceiling(afterAttempt attempt: Int) -> Duration {
        let seconds = base.seconds * power(factor, Double(max(0, attempt - 1)))
        return .seconds(min(cap.seconds, seconds))
    }

    /// The jittered wait after failed attempt `attempt`, drawn from `random`.
    public func delay(afterAttempt attempt: Int, using random: inout some RandomNumberGenerator) -> Duration {
        let ceiling = ceiling(afterAttempt: attempt).seconds
        return .seconds(Double.random(in: 0...ceiling, using: &random))
    }

    /// This policy with the overrides an endpoint or delivery sets (nil keeps this policy's value).
    /// Invalid combinations fall back to this policy's values: the database constraints already keep the
    /// stored overrides in range.
    public func overridden(maxAttempts: Int?, baseMilliseconds: Int?, capMilliseconds: Int?) -> RetryPolicy {
        let base = baseMilliseconds.map { Duration.milliseconds($0) } ?? self.base
        let cap = capMilliseconds.map { Duration.milliseconds($0) } ?? self.cap
        return (try? RetryPolicy(maxAttempts: maxAttempts ?? self.maxAttempts, base: base, cap: max(cap, base), factor: factor))
            ?? self
    }
}

extension Duration {
    /// The duration in (fractional) seconds.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

private func power(_ x: Double, _ y: Double) -> Double {
    var result = 1.0
    var n = Int(y)
    var b = x
    while n > 0 {
        if n & 1 == 1 { result *= b }
        b *= b
        n >>= 1
        if result > 1e12 { return 1e12 }  // far past any cap; avoids overflow to infinity
    }
    return result
}
