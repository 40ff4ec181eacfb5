import Foundation
@testable import Herald
import Testing

@Suite("Hand-written JSON records")
struct JSONObjectWriterTests {
    let awkward = "quote \" backslash \\ slash / newline \n tab \t cr \r bell \u{07} unit \u{1F} é 中 🚀 \u{2028}"

    @Test("a completion written by hand decodes with JSONDecoder to the same value")
    func completionRoundTrip() throws {
        let full = Completion(
            delivery_id: Int64.max, attempt: 3, state: "pending", attempts: 2, next_attempt_at: "2026-11-23 12:00:00.123456+00",
            status_code: 503, error: awkward, started_at: "2026-11-23 11:59:59+00", duration_ms: 0,
            request_headers: ["webhook-id": "msg_1", awkward: awkward, "": ""], response_excerpt: awkward, retryable: true,
            outcome: "retry", worker_id: "w-1", log_attempt: true, attempt_id: -1, interrupted: 0)
        var empty = full
        empty.next_attempt_at = nil
        empty.status_code = nil
        empty.error = nil
        empty.request_headers = [:]
        empty.response_excerpt = nil
        empty.attempt_id = nil
        empty.interrupted = nil
        empty.retryable = false
        for value in [full, empty] {
            let decoded = try JSONDecoder().decode(Completion.self, from: Data(value.json.utf8))
            #expect(decoded == value)
        }
        let array = JSONObjectWriter.array([full.json, empty.json])
        #expect(try JSONDecoder().decode([Completion].self, from: Data(array.utf8)) == [full, empty])
        #expect(JSONObjectWriter.array([]) == "[]")
    }

    @Test("NUL, which PostgreSQL refuses in jsonb and text, becomes U+FFFD")
    func nul() throws {
        var w = JSONObjectWriter()
        w.field("excerpt", "a\u{0}b")
        #expect(w.object == "{\"excerpt\":\"a\u{FFFD}b\"}")
    }

    @Test("journal markers and breaker records written by hand decode to the same values")
    func markerAndBreakerRoundTrip() throws {
        let marker = AttemptMarker(delivery_id: 42, attempt: 1, worker_id: awkward, started_at: "2026-11-23 12:00:00+00", breaker_key: awkward, rate_per_minute: 3000)
        #expect(try JSONDecoder().decode(AttemptMarker.self, from: Data(marker.json.utf8)) == marker)
        for reason in [awkward, nil] {
            let record = BreakerRecord(
                key: awkward, successes: 1, failures: 2, trailing_failures: 2, probe: true, probe_ok: false, threshold: 5,
                cooldown_ms: 30_000, cooldown_cap_ms: 600_000, delivery_id: 7, reason: reason, congested: true,
                retry_after_ms: 2_000, cap: 128)
            #expect(try JSONDecoder().decode(BreakerRecord.self, from: Data(record.json.utf8)) == record)
        }
    }
}
