import Foundation
import Herald
import Testing

@Suite("Circuit breaker state machine")
struct CircuitBreakerStateMachineTests {
    let policy = try! BreakerPolicy(failureThreshold: 5, cooldown: .seconds(30), cooldownCap: .seconds(600))
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func fail(_ n: Int = 1) -> CircuitBreakerStateMachine.Outcomes { .init(Array(repeating: false, count: n)) }
    let success = CircuitBreakerStateMachine.Outcomes([true])

    @Test("opens after 5 consecutive retryable failures, for the 30 s cool-down")
    func trips() {
        var b = CircuitBreakerStateMachine()
        for _ in 0..<4 { #expect(b.apply(fail(), policy: policy, now: now) == nil) }
        #expect(b.state == .closed)
        #expect(b.gate(now: now) == .send)
        let transition = b.apply(fail(), policy: policy, now: now)
        #expect(transition?.from == .closed && transition?.to == .open)
        #expect(b.trips == 1)
        #expect(b.openUntil == now.addingTimeInterval(30))
        #expect(b.gate(now: now.addingTimeInterval(29)) == .wait(until: now.addingTimeInterval(30)))
        #expect(b.gate(now: now.addingTimeInterval(30)) == .probe)
    }

    @Test("a success resets the count")
    func successResets() {
        var b = CircuitBreakerStateMachine()
        b.apply(fail(4), policy: policy, now: now)
        b.apply(success, policy: policy, now: now)
        #expect(b.consecutiveFailures == 0)
        b.apply(fail(4), policy: policy, now: now)
        #expect(b.state == .closed)
        // Within a batch, only failures after the last success count.
        b.apply(.init([false, false, true, false]), policy: policy, now: now)
        #expect(b.consecutiveFailures == 1)
        #expect(b.totalSuccesses == 2)
        #expect(b.totalFailures == 11)
    }

    @Test("a failed probe re-opens with a doubled cool-down, up to the cap; a good probe closes")
    func probes() {
        var b = CircuitBreakerStateMachine()
        b.apply(fail(5), policy: policy, now: now)
        var cooldowns: [Double] = []
        for i in 1...6 {
            let t = now.addingTimeInterval(Double(i) * 10_000)
            let transition = b.apply(.init(successes: 0, failures: 1, trailingFailures: 1, probe: true), policy: policy, now: t)
            #expect(transition?.from == .halfOpen && transition?.to == .open)
            cooldowns.append(b.openUntil!.timeIntervalSince(t))
        }
        #expect(cooldowns == [60, 120, 240, 480, 600, 600])
        let closed = b.apply(.init(successes: 1, failures: 0, trailingFailures: 0, probe: true, probeOK: true), policy: policy, now: now)
        #expect(closed?.to == .closed)
        #expect(b.trips == 0 && b.consecutiveFailures == 0 && b.openUntil == nil)
        #expect(b.gate(now: now) == .send)
    }

    @Test("outcomes fold in order")
    func folding() {
        let o = CircuitBreakerStateMachine.Outcomes([false, true, false, false])
        #expect(o.successes == 1 && o.failures == 3 && o.trailingFailures == 2)
        #expect(CircuitBreakerStateMachine.Outcomes([false, false]).trailingFailures == 2)
    }

    @Test("policies are validated and endpoint overrides apply")
    func policyValidation() throws {
        #expect(throws: HeraldError.self) { try BreakerPolicy(failureThreshold: 0, cooldown: .seconds(30), cooldownCap: .seconds(60)) }
        #expect(throws: HeraldError.self) { try BreakerPolicy(failureThreshold: 5, cooldown: .milliseconds(10), cooldownCap: .seconds(60)) }
        #expect(throws: HeraldError.self) { try BreakerPolicy(failureThreshold: 5, cooldown: .seconds(30), cooldownCap: .seconds(10)) }
        let p = BreakerPolicy.default.overridden(threshold: 2, cooldownMilliseconds: 5000, capMilliseconds: nil)
        #expect(p.failureThreshold == 2 && p.cooldown == .seconds(5) && p.cooldownCap == .seconds(600))
    }
}
