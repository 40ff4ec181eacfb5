@testable import HeraldAPI
import Testing

@Suite("Failed authentication limiter")
struct FailedAuthLimiterTests {
    let start = ContinuousClock.now

    @Test("the limit-th failure within the window refuses the address until its oldest failure leaves the window")
    func refusesAfterLimit() {
        var limiter = FailedAuthLimiter(limit: 3, window: .seconds(60))
        for i in 0..<2 { limiter.recordFailure("10.0.0.1", now: start + .seconds(i)) }
        #expect(limiter.retryAfter("10.0.0.1", now: start + .seconds(2)) == nil)
        limiter.recordFailure("10.0.0.1", now: start + .seconds(2))
        #expect(limiter.retryAfter("10.0.0.1", now: start + .seconds(10)) == .seconds(50))
        #expect(limiter.retryAfter("10.0.0.2", now: start + .seconds(10)) == nil, "another address is not affected")
        #expect(limiter.retryAfter("10.0.0.1", now: start + .seconds(60)) == nil, "the oldest failure left the window")
    }

    @Test("the number of tracked addresses is bounded; the stalest is forgotten")
    func boundedMemory() {
        var limiter = FailedAuthLimiter(limit: 1, window: .seconds(60), maximumAddresses: 2)
        limiter.recordFailure("a", now: start)
        limiter.recordFailure("b", now: start + .seconds(1))
        limiter.recordFailure("c", now: start + .seconds(2))
        #expect(limiter.failures.count == 2)
        #expect(limiter.failures["a"] == nil)
        #expect(limiter.retryAfter("c", now: start + .seconds(3)) != nil)
    }
}
