/// Waits between reconnection attempts: 100 ms doubling to 5 s, with jitter, reset on success.
///
/// Why: after a database restart every slot of every worker reconnects; without growing, jittered waits
/// they would hammer the server and flood the log in lock-step.
struct ReconnectBackoff: Sendable {
    private(set) var failures = 0
    var minimum: Duration = .milliseconds(100)
    var maximum: Duration = .seconds(5)

    /// The next wait, and counts a failure.
    mutating func next(using random: inout some RandomNumberGenerator) -> Duration {
        failures += 1
        let ceiling = min(maximum.seconds, minimum.seconds * Double(1 << min(failures - 1, 16)))
        return .seconds(Double.random(in: (ceiling / 2)...ceiling, using: &random))
    }

    mutating func reset() { failures = 0 }
}
