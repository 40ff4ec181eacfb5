import Foundation
@testable import Herald
import PGDriver
import Testing

@Suite("Hand-written JSON records")
struct JSONObjectWriterTests {
    let awkward = "quote \" backslash \\ slash / newline \n tab \t cr \r bell \u{07} unit \u{1F} é 中 🚀 \u{2028}"

    /// `json` parsed back by JSONSerialization, as one object.
    func parse(_ json: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    @Test("a completion written by hand parses back to its fields, times in PostgreSQL's format, nulls as null")
    func completionRoundTrip() throws {
        let at = Date(timeIntervalSince1970: 1_795_435_200.123456)
        let full = Completion(
            deliveryID: Int64.max, attempt: 3, state: .pending, attempts: 2, nextAttemptAt: at, statusCode: 503, error: awkward,
            startedAt: at, durationMilliseconds: 0, requestHeaders: ["webhook-id": "msg_1", awkward: awkward, "": ""],
            responseExcerpt: awkward, retryable: true, outcome: .retry, workerID: "w-1", logAttempt: true, attemptID: -1, interrupted: 0)
        let object = try parse(full.json)
        #expect(object["delivery_id"] as? Int64 == Int64.max)
        #expect(object["state"] as? String == "pending")
        #expect(object["outcome"] as? String == "retry")
        #expect(object["error"] as? String == awkward)
        #expect(object["response_excerpt"] as? String == awkward)
        #expect(object["request_headers"] as? [String: String] == ["webhook-id": "msg_1", awkward: awkward, "": ""])
        #expect(object["next_attempt_at"] as? String == PGTimestamp.format(at))
        #expect(PGTimestamp.parse(try #require(object["started_at"] as? String)) == PGTimestamp.parse(PGTimestamp.format(at)))
        #expect(object["attempt_id"] as? Int == -1)
        var empty = full
        empty.nextAttemptAt = nil
        empty.statusCode = nil
        empty.error = nil
        empty.attempts = nil
        empty.attemptID = nil
        let nulls = try parse(empty.json)
        for key in ["next_attempt_at", "status_code", "error", "attempts", "attempt_id"] { #expect(nulls[key] is NSNull, "\(key)") }
        // Every column the completion statement declares is written, and nothing else.
        let declared = Set(Completion.columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ")[0] }.map(String.init))
        #expect(Set(object.keys) == declared)
        let array = JSONObjectWriter.array([full.json, empty.json])
        #expect((try JSONSerialization.jsonObject(with: Data(array.utf8)) as? [Any])?.count == 2)
        #expect(JSONObjectWriter.array([]) == "[]")
    }

    @Test("NUL, which PostgreSQL refuses in jsonb and text, becomes U+FFFD")
    func nul() throws {
        var w = JSONObjectWriter()
        w.field("excerpt", "a\u{0}b")
        #expect(w.object == "{\"excerpt\":\"a\u{FFFD}b\"}")
    }

    @Test("journal markers and breaker records write every declared column")
    func markerAndBreakerRoundTrip() throws {
        let marker = AttemptMarker(deliveryID: 42, attempt: 1, workerID: awkward, startedAt: Date(), breakerKey: awkward, ratePerMinute: 3000)
        let m = try parse(marker.json)
        #expect(m["worker_id"] as? String == awkward && m["breaker_key"] as? String == awkward && m["rate_per_minute"] as? Int == 3000)
        for reason in [awkward, nil] {
            let record = BreakerRecord(
                key: awkward, successes: 1, failures: 2, trailingFailures: 2, probe: true, probeOK: false, threshold: 5,
                cooldownMilliseconds: 30_000, cooldownCapMilliseconds: 600_000, deliveryID: 7, reason: reason, congested: true,
                retryAfterMilliseconds: 2_000, cap: 128)
            let object = try parse(record.json)
            let declared = Set(BreakerRecord.columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ")[0] }.map(String.init))
            #expect(Set(object.keys) == declared)
            #expect(object["key"] as? String == awkward)
            #expect(object["retry_after_ms"] as? Int == 2000)
            #expect(reason == nil ? object["reason"] is NSNull : object["reason"] as? String == awkward)
        }
    }
}
