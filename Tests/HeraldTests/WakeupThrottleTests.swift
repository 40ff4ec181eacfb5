import Testing

@testable import Herald

@Suite("Wake-up throttle")
struct WakeupThrottleTests {
    let start = ContinuousClock.now

    @Test("the first notification rings at once")
    func firstRingsAtOnce() {
        let throttle = WakeupThrottle(window: .milliseconds(5))
        #expect(throttle.delay(at: start) == .zero)
    }

    @Test("notifications within the window wait for its end, not a full window each")
    func withinWindowWaitsForItsEnd() {
        var throttle = WakeupThrottle(window: .milliseconds(5))
        throttle.rang(at: start)
        #expect(throttle.delay(at: start) == .milliseconds(5))
        #expect(throttle.delay(at: start + .milliseconds(2)) == .milliseconds(3))
        #expect(throttle.delay(at: start + .milliseconds(5)) == .zero)
    }

    @Test("after a quiet window the next notification rings at once")
    func quietWindowRingsAtOnce() {
        var throttle = WakeupThrottle(window: .milliseconds(5))
        throttle.rang(at: start)
        #expect(throttle.delay(at: start + .milliseconds(40)) == .zero)
        throttle.rang(at: start + .milliseconds(40))
        #expect(throttle.delay(at: start + .milliseconds(41)) == .milliseconds(4))
    }

    @Test("a zero window never delays")
    func zeroWindowNeverDelays() {
        var throttle = WakeupThrottle(window: .zero)
        throttle.rang(at: start)
        #expect(throttle.delay(at: start) == .zero)
    }

    @Test("the trailing ring falls due once, trail after the last notification's ring")
    func trailingRingOnce() {
        var throttle = WakeupThrottle(window: .milliseconds(5), trail: .milliseconds(20))
        #expect(throttle.timeout(at: start, idle: .seconds(5)) == .seconds(5), "nothing rang: wait the idle timeout")
        throttle.rang(at: start)
        #expect(throttle.timeout(at: start + .milliseconds(8), idle: .seconds(5)) == .milliseconds(12))
        let early = throttle.takeTrailingRing(at: start + .milliseconds(19))
        let due = throttle.takeTrailingRing(at: start + .milliseconds(20))
        let again = throttle.takeTrailingRing(at: start + .milliseconds(40))
        #expect(!early)
        #expect(due)
        #expect(!again, "one trailing ring per notification ring")
        #expect(throttle.timeout(at: start + .milliseconds(40), idle: .seconds(5)) == .seconds(5))
    }

    @Test("a notification before the trailing ring moves it later")
    func notificationMovesTrailingRing() {
        var throttle = WakeupThrottle(window: .milliseconds(5), trail: .milliseconds(20))
        throttle.rang(at: start)
        throttle.rang(at: start + .milliseconds(15))
        let moved = throttle.takeTrailingRing(at: start + .milliseconds(20))
        let due = throttle.takeTrailingRing(at: start + .milliseconds(35))
        #expect(!moved)
        #expect(due)
    }
}
