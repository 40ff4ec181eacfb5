import Foundation
import Herald
import Testing

@Suite("Delivery state machine")
struct DeliveryStateMachineTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    var random = SeededRandom(seed: 42)

    func machine(maxAttempts: Int = 8) throws -> DeliveryStateMachine {
        DeliveryStateMachine(policy: try RetryPolicy(maxAttempts: maxAttempts, base: .seconds(5), cap: .seconds(3600)))
    }

    @Test("2xx is delivered", arguments: [200, 201, 204, 299])
    mutating func success(_ status: Int) throws {
        let d = try machine().decide(attemptsBefore: 0, result: .response(status: status, retryAfter: nil), now: now, random: &random)
        #expect(d.state == .delivered)
        #expect(d.attempts == 1)
        #expect(d.outcome == .delivered)
        #expect(d.nextAttemptAt == nil)
        #expect(d.reason == nil)
    }

    @Test("other 4xx and 3xx fail at once, without retry", arguments: [400, 401, 403, 404, 410, 422, 301, 302, 307])
    mutating func permanent(_ status: Int) throws {
        let d = try machine().decide(attemptsBefore: 2, result: .response(status: status, retryAfter: nil), now: now, random: &random)
        #expect(d.state == .failed)
        #expect(d.attempts == 3)
        #expect(d.outcome == .failed)
        #expect(!d.retryable)
        if (300..<400).contains(status) { #expect(d.reason?.contains("redirects are not followed") == true) }
    }

    @Test("408, 429, 5xx, timeouts and connection errors are retried")
    mutating func retryable() throws {
        let results: [AttemptResult] = [
            .response(status: 408, retryAfter: nil), .response(status: 429, retryAfter: nil), .response(status: 500, retryAfter: nil),
            .response(status: 503, retryAfter: nil), .timeout("timed out"), .connectionError("connection refused"),
        ]
        for result in results {
            let d = try machine().decide(attemptsBefore: 0, result: result, now: now, random: &random)
            #expect(d.state == .pending, "\(result)")
            #expect(d.outcome == .retry)
            #expect(d.retryable)
            let wait = try #require(d.nextAttemptAt).timeIntervalSince(now)
            #expect(wait >= 0 && wait <= 5, "first retry waits within the base: \(wait)")
        }
    }

    @Test("always 500 with 3 attempts: pending, pending, then dead after exactly 3")
    mutating func exhaustion() throws {
        let m = try machine(maxAttempts: 3)
        let result = AttemptResult.response(status: 500, retryAfter: nil)
        let states = (0..<3).map { m.decide(attemptsBefore: $0, result: result, now: now, random: &random).state }
        #expect(states == [.pending, .pending, .dead])
        let last = m.decide(attemptsBefore: 2, result: result, now: now, random: &random)
        #expect(last.attempts == 3)
        #expect(last.outcome == .dead)
        #expect(last.reason?.contains("attempt 3 of 3") == true)
    }

    @Test("Retry-After: 7 on a 429 schedules the next attempt exactly 7 s after the injected now")
    mutating func retryAfterSeconds() throws {
        let d = try machine().decide(attemptsBefore: 0, result: .response(status: 429, retryAfter: "7"), now: now, random: &random)
        #expect(d.nextAttemptAt == now.addingTimeInterval(7))
    }

    @Test("Retry-After as an HTTP date, and clamped to [1 s, cap]")
    mutating func retryAfterDates() throws {
        let m = try machine()
        let date = "Fri, 15 Jan 2027 08:00:30 GMT"
        let base = try #require(RetryAfter.parse("Fri, 15 Jan 2027 08:00:00 GMT", now: now)).seconds
        let asked = try #require(RetryAfter.parse(date, now: now)).seconds
        #expect(asked - base == 30)
        let huge = m.decide(attemptsBefore: 0, result: .response(status: 503, retryAfter: "99999999"), now: now, random: &random)
        #expect(huge.nextAttemptAt == now.addingTimeInterval(3600))
        let zero = m.decide(attemptsBefore: 0, result: .response(status: 503, retryAfter: "0"), now: now, random: &random)
        #expect(zero.nextAttemptAt == now.addingTimeInterval(1))
        // Ignored on other statuses and when malformed: the backoff applies.
        let other = m.decide(attemptsBefore: 0, result: .response(status: 500, retryAfter: "7"), now: now, random: &random)
        #expect(other.nextAttemptAt != now.addingTimeInterval(7))
        #expect(RetryAfter.parse("soon", now: now) == nil)
        #expect(RetryAfter.parse("-5", now: now) == nil)
    }

    @Test("a disabled endpoint fails the delivery without spending an attempt")
    func disabled() throws {
        let d = try machine().decideDisabled(attempts: 2, reason: "gone for good")
        #expect(d.state == .failed)
        #expect(d.attempts == 2)
        #expect(d.reason == "endpoint disabled: gone for good")
    }

    @Test("refused sends fail without retry")
    mutating func refused() throws {
        let d = try machine().decide(attemptsBefore: 0, result: .refused("blocked address"), now: now, random: &random)
        #expect(d.state == .failed)
        #expect(d.reason == "blocked address")
    }

    @Test("operators may replay terminal deliveries and cancel pending ones; nothing else moves")
    func transitions() {
        for terminal in [DeliveryState.failed, .dead, .cancelled] {
            #expect(terminal.canTransition(to: .pending))
            #expect(terminal.isTerminal)
        }
        #expect(DeliveryState.pending.canTransition(to: .cancelled))
        #expect(!DeliveryState.delivered.canTransition(to: .pending))
        #expect(!DeliveryState.delivered.canTransition(to: .cancelled))
        #expect(!DeliveryState.dead.canTransition(to: .delivered))
        #expect(!DeliveryState.pending.isTerminal)
    }
}

@Suite("Retry policy")
struct RetryPolicyTests {
    @Test("the default ceilings follow 5 s × 8^(n-1), capped at 10 h")
    func defaultSchedule() {
        let ceilings = (1...7).map { RetryPolicy.default.ceiling(afterAttempt: $0).seconds }
        #expect(ceilings == [5, 40, 320, 2560, 20480, 36000, 36000])
        #expect(RetryPolicy.default.maxAttempts == 8)
    }

    @Test("full jitter stays within [0, ceiling] and spreads out")
    func jitter() throws {
        var random = SeededRandom(seed: 7)
        let policy = try RetryPolicy(maxAttempts: 5, base: .seconds(10), cap: .seconds(60))
        let delays = (0..<500).map { _ in policy.delay(afterAttempt: 2, using: &random).seconds }
        #expect(delays.allSatisfy { $0 >= 0 && $0 <= 60 })
        #expect(delays.min()! < 10)
        #expect(delays.max()! > 50)
    }

    @Test("out-of-range settings are refused with the setting's name")
    func validation() {
        let cases: [(Int, Duration, Duration, String)] = [
            (0, .seconds(5), .seconds(10), "max attempts"), (51, .seconds(5), .seconds(10), "max attempts"),
            (3, .milliseconds(500), .seconds(10), "backoff base"), (3, .seconds(10), .seconds(5), "backoff cap"),
        ]
        for (attempts, base, cap, words) in cases {
            let error = #expect(throws: HeraldError.self) { try RetryPolicy(maxAttempts: attempts, base: base, cap: cap) }
            #expect(error?.message.contains(words) == true)
        }
    }

    @Test("endpoint overrides replace only what they set")
    func overrides() {
        let p = RetryPolicy.default.overridden(maxAttempts: 3, baseMilliseconds: nil, capMilliseconds: 60_000)
        #expect(p.maxAttempts == 3)
        #expect(p.base == .seconds(5))
        #expect(p.cap == .seconds(60))
    }
}
