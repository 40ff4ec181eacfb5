import Foundation
import Testing

@testable import Herald
@testable import PGDriver

extension PGRow {
    /// One row with these columns (text format, nil for NULL), as a statement would return it.
    static func testRow(_ values: KeyValuePairs<String, String?>) -> PGRow {
        let result = PGResult(
            columns: values.map(\.key), columnTypes: values.map { _ in 0 }, cells: values.map(\.value), affectedRows: 0)
        return result.rows[0]
    }
}

@Suite("Lease triage")
struct LeaseTriageTests {
    let triage = LeaseTriage(poisonThreshold: 3)

    /// A leased delivery as the lease would return it, built from its row.
    func delivery(
        id: Int64 = 1, enabled: Bool = true, interrupted: Int = 0, resendNotBefore: String? = nil, headers: String = "{}",
        body: String? = "\\x7b7d", bodyBytes: String? = "2", endpointHeaders: String = "{}", timeoutMilliseconds: String? = nil
    ) throws -> Result<LeasedDelivery, LeaseRowError> {
        let row = PGRow.testRow([
            "backlog_key": nil,
            // The lease sends a body's size always and the body itself up to 64 KiB; a pruned payload has neither.
            "id": "\(id)", "idempotency_key": "msg_1", "body": body, "body_bytes": bodyBytes, "content_type": "application/json", "headers": headers, "traceparent": nil,
            "attempts": "0", "attempt_number": "1", "max_attempts": nil, "breaker_key": "endpoint:1", "endpoint_id": "1",
            "application_id": "default", "endpoint_headers": endpointHeaders, "request_timeout_ms": timeoutMilliseconds, "endpoint_failing": "f",
            "url": "https://example.com/h", "secret": "whsec_x", "previous_secret": nil, "enabled": enabled ? "t" : "f",
            "disabled_reason": enabled ? nil : "gone", "endpoint_max_attempts": nil, "backoff_base_ms": nil, "backoff_cap_ms": nil,
            "breaker_failure_threshold": nil, "breaker_cooldown_ms": nil, "breaker_cooldown_cap_ms": nil, "rate_limit_per_minute": nil,
            "breaker_state": "closed", "breaker_failures": "0", "send_window": nil, "window_cap": "128", "probe": "f",
            "interrupted": "\(interrupted)", "resend_not_before": resendNotBefore,
        ])
        return LeasedDelivery.decode(row)
    }

    @Test("a healthy leased delivery is sent")
    func sends() throws {
        #expect(triage.decide(try delivery()) == .send(id: 1))
    }

    @Test("the poison threshold of sends that never finished parks it; one fewer does not")
    func parks() throws {
        #expect(triage.decide(try delivery(interrupted: 3)) == .park(id: 1))
        #expect(triage.decide(try delivery(interrupted: 2)) == .send(id: 1))
    }

    @Test("a disabled endpoint fails the delivery without a send")
    func disabled() throws {
        #expect(triage.decide(try delivery(enabled: false)) == .failDisabled(id: 1))
    }

    @Test("after an interrupted send it waits until the time the database gave")
    func waits() throws {
        let decided = triage.decide(try delivery(interrupted: 1, resendNotBefore: "2030-01-01 00:00:25+00"))
        #expect(decided == .wait(id: 1, until: PGTimestamp.parse("2030-01-01 00:00:25+00")!))
    }

    @Test("parking wins over waiting; disabled wins over waiting")
    func precedence() throws {
        #expect(triage.decide(try delivery(interrupted: 3, resendNotBefore: "2030-01-01 00:00:25+00")) == .park(id: 1))
        #expect(triage.decide(try delivery(enabled: false, resendNotBefore: "2030-01-01 00:00:25+00")) == .failDisabled(id: 1))
    }

    @Test("a row whose headers are not strings fails alone, naming the headers", arguments: ["{\"X-A\": 1}", "[1]", "{\"X-A\": null}"])
    func unreadable(headers: String) throws {
        guard case .failUnreadable(let error) = triage.decide(try delivery(id: 7, headers: headers)) else {
            Issue.record("not failed as unreadable")
            return
        }
        #expect(error.id == 7)
        #expect(error.reason.contains("headers"))
    }

    @Test("a body over the inline limit comes without its bytes, to be fetched once the byte budget admits it")
    func largeBodyIsFetchedLater() throws {
        let small = try delivery().get()
        #expect(small.bodyFetched && small.body == Array("{}".utf8) && small.bodyBytes == 2)
        let large = try delivery(body: nil, bodyBytes: "1048576").get()
        #expect(!large.bodyFetched && large.body.isEmpty && large.bodyBytes == 1_048_576)
        #expect(triage.decide(.success(large)) == .send(id: 1), "it is sent once fetched, not failed")
    }

    @Test("a delivery whose message payload was pruned fails alone, with the reason")
    func prunedPayload() throws {
        guard case .failUnreadable(let error) = triage.decide(try delivery(body: nil, bodyBytes: nil)) else {
            Issue.record("expected failUnreadable")
            return
        }
        #expect(error.reason.contains("payload was pruned"))
    }

    @Test("the endpoint's headers win over the delivery's on the same name, whatever its case; its timeout only shortens")
    func endpointHeadersAndTimeout() throws {
        let d = try delivery(
            headers: #"{"authorization": "producer", "X-Trace": "t1"}"#, endpointHeaders: #"{"Authorization": "Bearer operator"}"#,
            timeoutMilliseconds: "500"
        ).get()
        #expect(d.requestHeaders == ["Authorization": "Bearer operator", "X-Trace": "t1"])
        #expect(d.requestTimeout(worker: .seconds(15)) == .milliseconds(500))
        #expect(d.requestTimeout(worker: .milliseconds(200)) == .milliseconds(200))
        #expect(try delivery().get().requestTimeout(worker: .seconds(15)) == .seconds(15))
    }
}
