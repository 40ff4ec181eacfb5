@testable import Herald
import Foundation
import Testing

/// The in-flight gauge the heartbeat reads: the count the slots keep through `metrics.inFlight`, and the
/// `/metrics` gauge agrees with it.
@Suite("Send tally")
struct SendTallyTests {
    @Test("increments and decrements through the Meter are counted, and the Prometheus gauge sees the same")
    func counts() throws {
        let metrics = HeraldMetrics()
        #expect(metrics.sends.inFlight == 0)
        #expect(metrics.sends.secondsSinceLastStart == nil, "no send yet")
        metrics.inFlight.increment()
        metrics.inFlight.increment()
        metrics.inFlight.decrement()
        #expect(metrics.sends.inFlight == 1)
        let since = try #require(metrics.sends.secondsSinceLastStart)
        #expect(since >= 0 && since < 60)
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains("herald_sends_in_flight 1"), "\(text)")
        metrics.inFlight.decrement()
        #expect(metrics.sends.inFlight == 0)
    }

    @Test("a count driven below zero (a decrement without its increment) reports 0, not a negative number")
    func neverNegative() {
        let metrics = HeraldMetrics()
        metrics.inFlight.decrement()
        #expect(metrics.sends.inFlight == 0)
    }
}
