import Foundation
import Testing

@testable import Herald

@Suite("Breaker batch: what one batch's answers tell the shared breaker")
struct BreakerBatchTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func send(
        _ result: AttemptResult, key: String = "endpoint:1", id: Int64 = 1, probe: Bool = false, steady: Bool = false
    ) -> BreakerBatch.Send {
        BreakerBatch.Send(
            key: key, deliveryID: id, probe: probe, result: result, reason: result.summary, policy: .default, cap: 128,
            leaseSawSteadyState: steady)
    }

    @Test("successes only, the lease saw the key steady at its cap: written only if the key is no longer steady at commit")
    func steadyWritesOnlyIfUnsteady() throws {
        let r = try #require(BreakerBatch.records([send(.response(status: 200, retryAfter: nil), steady: true)], now: now).first)
        #expect(r.onlyIfUnsteady && r.successes == 1 && r.failures == 0)
        // A failure, a probe or a lease that did not see the key steady: written whatever the key is now.
        #expect(BreakerBatch.records([send(.response(status: 200, retryAfter: nil)), send(.response(status: 200, retryAfter: nil), steady: true)], now: now).first?.onlyIfUnsteady == false)
        #expect(BreakerBatch.records([send(.response(status: 500, retryAfter: nil), steady: true)], now: now).first?.onlyIfUnsteady == false)
        #expect(BreakerBatch.records([send(.response(status: 200, retryAfter: nil), probe: true, steady: true)], now: now).first?.onlyIfUnsteady == false)
    }

    @Test("successes while the window is still opening: written, so the window grows")
    func growthIsWritten() throws {
        let records = BreakerBatch.records([send(.response(status: 200, retryAfter: nil)), send(.response(status: 204, retryAfter: nil))], now: now)
        let r = try #require(records.first)
        #expect(r.successes == 2 && r.failures == 0 && !r.congested && r.retryAfterMilliseconds == nil && r.cap == 128)
    }

    @Test("5xx, timeouts and connection errors are failures that congest; the last failure names the event")
    func failures() throws {
        let records = BreakerBatch.records(
            [send(.response(status: 200, retryAfter: nil), id: 1), send(.response(status: 500, retryAfter: nil), id: 2),
             send(.timeout("slow"), id: 3)], now: now)
        let r = try #require(records.first)
        #expect(r.successes == 1 && r.failures == 2 && r.trailingFailures == 2)
        #expect(r.congested)
        #expect(r.deliveryID == 3)
        #expect(r.reason == "slow")
    }

    @Test("429 is no failure: it congests and defers the key as long as asked", arguments: [
        (AttemptResult.response(status: 429, retryAfter: "2"), 2000),
        (AttemptResult.response(status: 503, retryAfter: "7"), 7000),
        (AttemptResult.response(status: 429, retryAfter: nil), nil),
    ] as [(AttemptResult, Int?)])
    func slowDown(result: AttemptResult, deferMs: Int?) throws {
        let r = try #require(BreakerBatch.records([send(result)], now: now).first)
        #expect(r.failures == 0 && r.successes == 0)
        #expect(r.congested)
        #expect(r.retryAfterMilliseconds == deferMs)
    }

    @Test("503 without Retry-After is an ordinary failure")
    func plain503() throws {
        let r = try #require(BreakerBatch.records([send(.response(status: 503, retryAfter: nil))], now: now).first)
        #expect(r.failures == 1 && r.retryAfterMilliseconds == nil)
    }

    @Test("the longest Retry-After of a batch wins")
    func longestWait() throws {
        let r = try #require(BreakerBatch.records(
            [send(.response(status: 429, retryAfter: "3")), send(.response(status: 429, retryAfter: "9"))], now: now).first)
        #expect(r.retryAfterMilliseconds == 9000)
    }

    @Test("4xx and 3xx say nothing of the endpoint being down")
    func permanentSaysNothing() throws {
        let r = try #require(BreakerBatch.records([send(.response(status: 404, retryAfter: nil)), send(.response(status: 302, retryAfter: nil))], now: now).first)
        #expect(r.successes == 0 && r.failures == 0 && !r.congested)
    }

    @Test("a probe answered 2xx or 4xx succeeds; 5xx, a timeout or a send refused by the SSRF guard does not", arguments: [
        (AttemptResult.response(status: 200, retryAfter: nil), true),
        (AttemptResult.response(status: 404, retryAfter: nil), true),
        (AttemptResult.response(status: 429, retryAfter: "1"), true),
        (AttemptResult.response(status: 500, retryAfter: nil), false),
        (AttemptResult.timeout("slow"), false),
        (AttemptResult.refused("private address"), false),
    ] as [(AttemptResult, Bool)])
    func probe(result: AttemptResult, ok: Bool) throws {
        let r = try #require(BreakerBatch.records([send(result, probe: true, steady: true)], now: now).first)
        #expect(r.probe)
        #expect(r.probeOK == ok)
    }

    @Test("one record per key, in key order (the completion locks breaker rows in that order)")
    func perKeyInOrder() {
        let records = BreakerBatch.records(
            [send(.timeout("t"), key: "endpoint:9"), send(.timeout("t"), key: "endpoint:10"), send(.timeout("t"), key: "endpoint:9")],
            now: now)
        #expect(records.map(\.key) == ["endpoint:10", "endpoint:9"])
        #expect(records.map(\.failures) == [1, 2])
    }
}
