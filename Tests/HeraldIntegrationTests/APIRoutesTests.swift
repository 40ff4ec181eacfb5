import Foundation
import HeraldTestSupport
import PGDriver
import Testing

/// Every route of `herald serve` over real HTTP: its success case and a validation error
/// (problem+json with a code and the field at fault).
@Suite("API routes")
struct APIRoutesTests {
    /// A problem+json answer with this status, code and field.
    func expectProblem(_ answer: APIClient.Answer, _ status: Int, code: String, field: String? = nil, _ what: String) {
        #expect(answer.status == status, "\(what): \(answer)")
        #expect(answer.headers["content-type"] == "application/problem+json", "\(what): \(answer.headers)")
        #expect(answer.json["code"] as? String == code, "\(what): \(answer)")
        #expect(answer.json["status"] as? Int == status, "\(what): \(answer)")
        #expect((answer.json["detail"] as? String)?.isEmpty == false, "\(what): \(answer)")
        #expect((answer.json["title"] as? String)?.isEmpty == false, "\(what): \(answer)")
        if let field { #expect(answer.json["field"] as? String == field, "\(what): \(answer)") }
    }

    @Test("probes, spec and metrics")
    func operations() async throws {
        let f = try await APIFixture.start()
        #expect(try await f.api.send("GET", "/healthz").status == 200)
        try await Wait.until("readyz", timeout: .seconds(30)) { try await f.api.send("GET", "/readyz").status == 200 }
        let spec = try await f.api.send("GET", "/openapi.yaml")
        #expect(spec.status == 200 && spec.text.hasPrefix("openapi: 3.1.0"), "\(spec.text.prefix(100))")
        let status = try await f.api.send("GET", "/v1/status", token: f.admin)
        #expect(status.status == 200 && status.json["states"] is [String: Any], "\(status)")
        let metrics = try await f.api.send("GET", "/metrics")
        #expect(metrics.text.contains(#"herald_api_requests_total{route="/v1/status",method="GET",status="200"} 1"#), "\(metrics.text)")
        #expect(metrics.text.contains("herald_api_request_duration_seconds_bucket"), "\(metrics.text)")
        f.server.process.signal(SIGTERM)
        #expect(try await f.server.process.waitForExit() == 0, "\(f.server.process.output)")
    }

    @Test("applications: create, list, get, update; invalid input is 422 with the field")
    func applications() async throws {
        let f = try await APIFixture.start()
        let created = try await f.api.send("POST", "/v1/applications", token: f.admin, json: ["id": "initech", "name": "Initech", "retentionDays": 30])
        #expect(created.status == 201 && created.json["id"] as? String == "initech" && created.json["retentionDays"] as? Int == 30, "\(created)")
        expectProblem(try await f.api.send("POST", "/v1/applications", token: f.admin, json: ["id": "bad id!"]), 422, code: "invalid_input", field: "id", "bad id")
        expectProblem(try await f.api.send("POST", "/v1/applications", token: f.admin, json: ["name": "x"]), 422, code: "invalid_input", field: "id", "no id")
        expectProblem(try await f.api.send("POST", "/v1/applications", token: f.admin, json: ["id": "initech"]), 409, code: "conflict", "dup")
        let list = try await f.api.send("GET", "/v1/applications", token: f.admin)
        let ids = (list.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
        #expect(ids == ["acme", "default", "globex", "initech"], "\(list)")
        #expect(list.json["done"] as? Bool == true)
        let got = try await f.api.send("GET", "/v1/applications/initech", token: f.admin)
        #expect(got.status == 200 && got.json["name"] as? String == "Initech", "\(got)")
        let updated = try await f.api.send("PATCH", "/v1/applications/initech", token: f.admin, json: ["name": "Initrode", "clearRetention": true])
        #expect(updated.status == 200 && updated.json["name"] as? String == "Initrode" && updated.json["retentionDays"] == nil, "\(updated)")
        expectProblem(
            try await f.api.send("PATCH", "/v1/applications/initech", token: f.admin, json: ["retentionDays": 0]), 422, code: "invalid_input",
            field: "retentionDays", "retention 0")
        expectProblem(try await f.api.send("GET", "/v1/applications/nosuch", token: f.admin), 404, code: "not_found", "missing")
        expectProblem(try await f.api.send("GET", "/v1/applications?limit=0", token: f.admin), 422, code: "invalid_input", field: "limit", "limit 0")
        expectProblem(
            try await f.api.send("GET", "/v1/applications?iterator=bogus", token: f.admin), 422, code: "invalid_input", field: "iterator", "iterator")
    }

    @Test("endpoints: create (secret once), list, get; a bad URL is 422 on url")
    func endpoints() async throws {
        let f = try await APIFixture.start()
        let created = try await f.api.send(
            "POST", "/v1/applications/acme/endpoints", token: f.acme,
            json: ["url": "https://acme.example/hooks", "eventTypes": ["invoice.*"], "description": "billing"])
        #expect(created.status == 201, "\(created)")
        #expect((created.json["secret"] as? String)?.hasPrefix("whsec_") == true, "\(created)")
        let id = (created.json["id"] as? NSNumber)?.int64Value ?? -1
        expectProblem(
            try await f.api.send("POST", "/v1/applications/acme/endpoints", token: f.acme, json: ["url": "ftp://acme.example/"]), 422,
            code: "invalid_input", field: "url", "ftp url")
        expectProblem(
            try await f.api.send("POST", "/v1/applications/acme/endpoints", token: f.acme, json: ["url": "https://a.example/", "eventTypes": ["bad type!"]]),
            422, code: "invalid_input", field: "eventTypes", "bad type")
        let list = try await f.api.send("GET", "/v1/applications/acme/endpoints", token: f.acme)
        let listed = list.json["data"] as? [[String: Any]] ?? []
        #expect(listed.count == 1 && listed.first?["secret"] == nil || listed.first?["secret"] is NSNull, "\(list)")
        let got = try await f.api.send("GET", "/v1/applications/acme/endpoints/\(id)", token: f.acme)
        #expect(got.status == 200 && got.json["description"] as? String == "billing" && got.json["eventTypes"] as? [String] == ["invoice.*"], "\(got)")
        #expect(got.json["secret"] == nil || got.json["secret"] is NSNull, "never the secret after create: \(got)")
    }

    @Test("endpoint lifecycle: update, disable, enable with replaySince, rotate-secret; bad values are 422 on their field")
    func endpointLifecycle() async throws {
        let f = try await APIFixture.start()
        let seeded = try await f.seed("acme", token: f.acme)
        let base = "/v1/applications/acme/endpoints/\(seeded.endpoint)"
        let updated = try await f.api.send("PATCH", base, token: f.acme, json: ["eventTypes": ["invoice.*"], "description": "billing", "maxAttempts": 3])
        #expect(updated.status == 200 && updated.json["eventTypes"] as? [String] == ["invoice.*"] && updated.json["maxAttempts"] as? Int == 3, "\(updated)")
        expectProblem(try await f.api.send("PATCH", base, token: f.acme, json: ["eventTypes": ["bad type!"]]), 422, code: "invalid_input", field: "eventTypes", "type")
        expectProblem(try await f.api.send("PATCH", base, token: f.acme, json: ["maxAttempts": 99]), 422, code: "invalid_input", field: "maxAttempts", "attempts")

        expectProblem(try await f.api.send("POST", base + "/disable", token: f.acme, json: ["reason": " "]), 422, code: "invalid_input", field: "reason", "reason")
        let disabled = try await f.api.send("POST", base + "/disable", token: f.acme, json: ["reason": "customer asked"])
        #expect(disabled.status == 200 && disabled.json["enabled"] as? Bool == false && disabled.json["disabledReason"] as? String == "customer asked", "\(disabled)")

        try await f.connection.query(
            "UPDATE \(unescaped: f.schema).deliveries SET state = 'failed', finished_at = now(), last_error = 'endpoint disabled' WHERE id = \(seeded.delivery)")
        let enabled = try await f.api.send("POST", base + "/enable", token: f.acme, json: ["replaySince": "2000-01-01T00:00:00Z"])
        #expect(enabled.status == 200 && enabled.json["changed"] as? Bool == true, "\(enabled)")
        #expect((enabled.json["replayed"] as? [NSNumber])?.map(\.int64Value) == [seeded.delivery], "\(enabled)")
        #expect((enabled.json["endpoint"] as? [String: Any])?["enabled"] as? Bool == true)
        let again = try await f.api.send("POST", base + "/enable", token: f.acme)
        #expect(again.status == 200 && again.json["changed"] as? Bool == false && (again.json["replayed"] as? [Any])?.isEmpty == true, "\(again)")

        expectProblem(
            try await f.api.send("POST", base + "/rotate-secret", token: f.acme, json: ["graceSeconds": 10]), 422, code: "invalid_input",
            field: "graceSeconds", "grace")
        let old = try await f.connection.query("SELECT secret FROM \(unescaped: f.schema).endpoints WHERE id = \(seeded.endpoint)").first?
            .decode("secret", as: String.self)
        let rotated = try await f.api.send("POST", base + "/rotate-secret", token: f.acme, json: ["graceSeconds": 3600])
        let secret = rotated.json["secret"] as? String
        #expect(rotated.status == 200 && secret?.hasPrefix("whsec_") == true && secret != old && rotated.json["previousSecretExpiresAt"] is String, "\(rotated)")
        let stored = try await f.connection.query("SELECT secret FROM \(unescaped: f.schema).endpoints WHERE id = \(seeded.endpoint)").first?
            .decode("secret", as: String.self)
        #expect(stored == secret)
    }

    @Test("malformed path ids and limits are 422 on the parameter, on every route that takes them")
    func parameters() async throws {
        let f = try await APIFixture.start()
        let paths: [(String, String, String)] = [
            ("GET", "/v1/applications/acme/endpoints/abc", "endpointId"), ("PATCH", "/v1/applications/acme/endpoints/abc", "endpointId"),
            ("POST", "/v1/applications/acme/endpoints/abc/disable", "endpointId"), ("POST", "/v1/applications/acme/endpoints/abc/enable", "endpointId"),
            ("POST", "/v1/applications/acme/endpoints/abc/rotate-secret", "endpointId"), ("GET", "/v1/applications/acme/messages/abc", "messageId"),
            ("DELETE", "/v1/applications/acme/endpoints/abc", "endpointId"), ("POST", "/v1/applications/acme/endpoints/abc/test", "endpointId"),
            ("GET", "/v1/deliveries/abc", "deliveryId"), ("POST", "/v1/deliveries/abc/replay", "deliveryId"),
            ("POST", "/v1/deliveries/abc/cancel", "deliveryId"), ("POST", "/v1/deliveries/abc/retry-now", "deliveryId"),
            ("GET", "/v1/applications/acme/endpoints?limit=251", "limit"), ("GET", "/v1/applications/acme/messages?limit=0", "limit"),
            ("GET", "/v1/deliveries?limit=1000", "limit"), ("GET", "/v1/deliveries?endpoint=x1", "endpoint"),
            ("GET", "/v1/deliveries?since=yesterday", "since"), ("GET", "/v1/applications/acme/messages?iterator=Zm9vOjE", "iterator"),
        ]
        for (method, path, field) in paths {
            let body: Any? = method == "GET" ? nil : ["reason": "x"]
            expectProblem(try await f.api.send(method, path, token: f.admin, json: body), 422, code: "invalid_input", field: field, "\(method) \(path)")
        }
    }

    @Test("messages: publish (Idempotency-Key is the event id), list, get; the database's checks answer 422 with the field")
    func messages() async throws {
        let f = try await APIFixture.start()
        _ = try await f.api.send("POST", "/v1/applications/acme/endpoints", token: f.acme, json: ["url": "https://acme.example/hooks"])
        let body: [String: Any] = ["eventType": "invoice.paid", "payload": ["invoice": 42, "b": [1, 2]], "channels": ["eu"]]
        let first = try await f.api.send("POST", "/v1/applications/acme/messages", token: f.acme, json: body, headers: ["Idempotency-Key": "inv_42"])
        #expect(first.status == 202 && first.json["queued"] as? Int == 1 && first.json["duplicate"] as? Bool == false, "\(first)")
        let again = try await f.api.send("POST", "/v1/applications/acme/messages", token: f.acme, json: body, headers: ["Idempotency-Key": "inv_42"])
        #expect(again.json["duplicate"] as? Bool == true && again.json["messageId"] as? Int == first.json["messageId"] as? Int, "\(again)")
        let stored = try await f.connection.query(
            "SELECT convert_from(payload, 'UTF8') AS p, event_id FROM \(unescaped: f.schema).messages WHERE application_id = 'acme'").first
        #expect(try stored?.decode("p", as: String.self) == #"{"b":[1,2],"invoice":42}"#)
        #expect(try stored?.decode("event_id", as: String.self) == "inv_42")
        expectProblem(
            try await f.api.send("POST", "/v1/applications/acme/messages", token: f.acme, json: ["eventType": "no spaces allowed", "payload": [:] as [String: Any]]),
            422, code: "invalid_input", field: "eventType", "bad type")
        expectProblem(
            try await f.api.send(
                "POST", "/v1/applications/acme/messages", token: f.acme, json: ["eventType": "a.b", "payload": 1, "headers": ["Host": "x"]]),
            422, code: "invalid_input", field: "headers", "reserved header")
        expectProblem(
            try await f.api.send("POST", "/v1/applications/acme/messages", token: f.acme, json: ["payload": 1]), 422, code: "invalid_input",
            field: "eventType", "missing type")
        // A NUL is refused, never stored cut short ("a\u{0}b" as "a"), and never a 503.
        expectProblem(
            try await f.api.send("POST", "/v1/applications/acme/messages", token: f.acme, json: ["eventType": "a\u{0}b", "payload": 1]), 422,
            code: "invalid_input", "NUL in a text value")
        expectProblem(
            try await f.api.send(
                "POST", "/v1/applications/acme/messages", token: f.acme, json: ["eventType": "a.b", "payload": 1, "channels": ["a\u{0}b"]]),
            422, code: "invalid_input", "NUL in JSON")
        let big = Data(#"{"eventType":"a.b","payload":""#.utf8) + Data(repeating: UInt8(ascii: "x"), count: 1_200_000) + Data(#""}"#.utf8)
        expectProblem(
            try await f.api.send("POST", "/v1/applications/acme/messages", token: f.acme, raw: big), 413, code: "payload_too_large", "too large")
        let list = try await f.api.send("GET", "/v1/applications/acme/messages", token: f.acme)
        #expect((list.json["data"] as? [[String: Any]])?.count == 1, "\(list)")
        let id = first.json["messageId"] as? Int ?? -1
        let got = try await f.api.send("GET", "/v1/applications/acme/messages/\(id)", token: f.acme)
        #expect((got.json["deliveries"] as? [[String: Any]])?.first?["state"] as? String == "pending", "\(got)")
        #expect((got.json["message"] as? [String: Any])?["eventId"] as? String == "inv_42", "\(got)")
    }

    @Test("deliveries: list with filters, get with attempts, cancel, replay, retry-now; breakers; status")
    func deliveries() async throws {
        let f = try await APIFixture.start()
        let seeded = try await f.seed("acme", token: f.acme)
        let list = try await f.api.send("GET", "/v1/deliveries?application=acme&state=pending&endpoint=\(seeded.endpoint)", token: f.admin)
        let rows = list.json["data"] as? [[String: Any]] ?? []
        #expect(rows.count == 1 && (rows.first?["id"] as? NSNumber)?.int64Value == seeded.delivery, "\(list)")
        let none = try await f.api.send("GET", "/v1/deliveries?state=dead", token: f.admin)
        #expect((none.json["data"] as? [Any])?.isEmpty == true, "\(none)")
        let future = try await f.api.send("GET", "/v1/deliveries?since=2999-01-01T00:00:00Z", token: f.admin)
        #expect((future.json["data"] as? [Any])?.isEmpty == true, "\(future)")
        expectProblem(try await f.api.send("GET", "/v1/deliveries?state=bogus", token: f.admin), 422, code: "invalid_input", field: "state", "bad state")
        let got = try await f.api.send("GET", "/v1/deliveries/\(seeded.delivery)", token: f.acme)
        #expect((got.json["delivery"] as? [String: Any])?["state"] as? String == "pending" && got.json["attempts"] is [Any], "\(got)")
        let retry = try await f.api.send("POST", "/v1/deliveries/\(seeded.delivery)/retry-now", token: f.acme)
        #expect(retry.status == 200 && (retry.json["skipped"] as? [[String: Any]])?.count == 1, "already due: \(retry)")
        let cancel = try await f.api.send("POST", "/v1/deliveries/\(seeded.delivery)/cancel", token: f.acme)
        #expect((cancel.json["changed"] as? [NSNumber])?.map(\.int64Value) == [seeded.delivery], "\(cancel)")
        let replay = try await f.api.send("POST", "/v1/deliveries/\(seeded.delivery)/replay", token: f.acme)
        #expect((replay.json["changed"] as? [NSNumber])?.map(\.int64Value) == [seeded.delivery], "\(replay)")
        let state = try await f.connection.query("SELECT state FROM \(unescaped: f.schema).deliveries WHERE id = \(seeded.delivery)").first
        #expect(try state?.decode("state", as: String.self) == "pending")
        expectProblem(try await f.api.send("GET", "/v1/deliveries/999999", token: f.admin), 404, code: "not_found", "missing delivery")
        let breakers = try await f.api.send("GET", "/v1/breakers", token: f.admin)
        #expect(breakers.status == 200 && breakers.json["data"] is [Any], "\(breakers)")
        expectProblem(try await f.api.send("POST", "/v1/breakers/endpoint:999999/reset", token: f.admin), 404, code: "not_found", "no breaker")
        try await f.connection.query(
            "INSERT INTO \(unescaped: f.schema).circuit_breakers (key, state, open_until) VALUES ('endpoint:\(unescaped: String(seeded.endpoint))', 'open', now() + interval '1 hour')")
        let reset = try await f.api.send("POST", "/v1/breakers/endpoint:\(seeded.endpoint)/reset", token: f.admin)
        #expect(reset.status == 204, "\(reset)")
        let status = try await f.api.send("GET", "/v1/status", token: f.acme)
        #expect((status.json["states"] as? [String: Int])?["pending"] == 1, "\(status)")
    }
}
