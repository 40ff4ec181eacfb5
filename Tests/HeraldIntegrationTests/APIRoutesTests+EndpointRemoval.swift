import Foundation
import HeraldTestSupport
import PGDriver
import Testing

extension APIRoutesTests {
    @Test("endpoint test event: 202, sent to that endpoint only, signed; a bad type or a disabled endpoint is 422; unknown 404")
    func endpointTestEvent() async throws {
        let f = try await APIFixture.start()
        let receiver = try await TestReceiver.start()
        // Subscribed to another type: a test event goes to the endpoint whatever its subscriptions.
        let created = try await f.api.send(
            "POST", "/v1/applications/acme/endpoints", token: f.acme, json: ["url": receiver.url("/test"), "eventTypes": ["invoice.*"]])
        let id = (created.json["id"] as? NSNumber)?.int64Value ?? -1
        let other = try await f.api.send("POST", "/v1/applications/acme/endpoints", token: f.acme, json: ["url": receiver.url("/other")])
        #expect(created.status == 201 && other.status == 201, "\(created) \(other)")
        let base = "/v1/applications/acme/endpoints/\(id)"

        let queued = try await f.api.send("POST", base + "/test", token: f.acme)
        #expect(queued.status == 202, "\(queued)")
        let deliveryID = (queued.json["deliveryId"] as? NSNumber)?.int64Value ?? -1
        let messageID = (queued.json["messageId"] as? NSNumber)?.int64Value ?? -1
        let rows = try await f.connection.query(
            "SELECT id, endpoint_id, event_type, message_id FROM \(unescaped: f.schema).deliveries ORDER BY id").rows
        #expect(rows.count == 1, "one delivery, to that endpoint only")
        #expect(try rows.first?.decode("endpoint_id", as: Int64.self) == id && rows.first?.decode("id", as: Int64.self) == deliveryID)
        #expect(try rows.first?.decode("event_type", as: String.self) == "herald.test" && rows.first?.decode("message_id", as: Int64.self) == messageID)

        let typed = try await f.api.send("POST", base + "/test", token: f.acme, json: ["eventType": "invoice.paid"])
        #expect(typed.status == 202, "\(typed)")
        expectProblem(
            try await f.api.send("POST", base + "/test", token: f.acme, json: ["eventType": "bad type!"]), 422, code: "invalid_input",
            field: "eventType", "bad type")
        expectProblem(try await f.api.send("POST", "/v1/applications/acme/endpoints/999999/test", token: f.acme), 404, code: "not_found", "unknown")

        let worker = try HeraldProcess.worker(f.pg, schema: f.schema)
        defer { worker.signal(SIGTERM) }
        try await Wait.until("both test events delivered", timeout: .seconds(60)) { receiver.requests(path: "/test").count == 2 }
        let payloads = receiver.requests(path: "/test").compactMap { try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any] }
        #expect(Set(payloads.compactMap { $0["type"] as? String }) == ["herald.test", "invoice.paid"], "\(payloads)")
        let data = payloads.first?["data"] as? [String: Any]
        #expect(data?["test"] as? Bool == true && (data?["endpointId"] as? NSNumber)?.int64Value == id, "\(payloads)")
        #expect(receiver.requests(path: "/test").allSatisfy { $0.headers["webhook-signature"]?.hasPrefix("v1,") == true }, "signed like any other")
        #expect(receiver.requests(path: "/other").isEmpty, "never to another endpoint of the application")

        _ = try await f.api.send("POST", base + "/disable", token: f.acme, json: ["reason": "maintenance"])
        expectProblem(try await f.api.send("POST", base + "/test", token: f.acme), 422, code: "invalid_input", field: "endpointId", "disabled")
        await receiver.stop()
    }

    @Test("endpoint delete: 204, then 404 and unlisted; deliveries and attempts stay; queued ones fail unsent; the URL can be registered again")
    func endpointDelete() async throws {
        let f = try await APIFixture.start()
        let receiver = try await TestReceiver.start()
        let created = try await f.api.send("POST", "/v1/applications/acme/endpoints", token: f.acme, json: ["url": receiver.url("/gone")])
        let id = (created.json["id"] as? NSNumber)?.int64Value ?? -1
        let base = "/v1/applications/acme/endpoints/\(id)"
        let published = try await f.api.send(
            "POST", "/v1/applications/acme/messages", token: f.acme, json: ["eventType": "invoice.paid", "payload": ["n": 1]])
        #expect(published.status == 202 && published.json["queued"] as? Int == 1, "\(published)")
        let delivery = try #require(
            try await f.connection.query("SELECT id FROM \(unescaped: f.schema).deliveries WHERE endpoint_id = \(id)").first?.decode("id", as: Int64.self))

        let deleted = try await f.api.send("DELETE", base, token: f.acme)
        #expect(deleted.status == 204 && deleted.body.isEmpty, "\(deleted)")
        expectProblem(try await f.api.send("GET", base, token: f.acme), 404, code: "not_found", "get after delete")
        expectProblem(try await f.api.send("DELETE", base, token: f.acme), 404, code: "not_found", "delete twice")
        expectProblem(try await f.api.send("POST", base + "/enable", token: f.acme), 404, code: "not_found", "enable after delete")
        expectProblem(try await f.api.send("DELETE", "/v1/applications/acme/endpoints/999999", token: f.acme), 404, code: "not_found", "unknown")
        let list = try await f.api.send("GET", "/v1/applications/acme/endpoints", token: f.acme)
        #expect((list.json["data"] as? [Any])?.isEmpty == true, "\(list)")
        let app = try await f.api.send("GET", "/v1/applications/acme", token: f.acme)
        #expect(app.json["endpoints"] as? Int == 0, "\(app)")

        // Fan-out skips it; its queued delivery fails when due, never sent.
        let after = try await f.api.send(
            "POST", "/v1/applications/acme/messages", token: f.acme, json: ["eventType": "invoice.paid", "payload": ["n": 2]])
        #expect(after.json["queued"] as? Int == 0, "\(after)")
        let worker = try HeraldProcess.worker(f.pg, schema: f.schema)
        defer { worker.signal(SIGTERM) }
        try await Wait.until("the deleted endpoint's delivery failed", timeout: .seconds(60)) {
            try await f.connection.query("SELECT state FROM \(unescaped: f.schema).deliveries WHERE id = \(delivery)").first?
                .decode("state", as: String.self) == "failed"
        }
        let got = try await f.api.send("GET", "/v1/deliveries/\(delivery)", token: f.acme)
        let kept = got.json["delivery"] as? [String: Any]
        #expect(got.status == 200 && kept?["lastError"] as? String == "endpoint disabled: endpoint deleted", "the audit trail stays: \(got)")
        #expect(receiver.requests.isEmpty)
        let row = try #require(try await f.connection.query(
            "SELECT deleted_at IS NOT NULL AS deleted, enabled FROM \(unescaped: f.schema).endpoints WHERE id = \(id)").first)
        #expect(try row.decode("deleted", as: Bool.self) && !row.decode("enabled", as: Bool.self))
        let events = try await f.connection.query(
            "SELECT what FROM \(unescaped: f.schema).endpoint_events WHERE endpoint_id = \(id) ORDER BY id").rows.map { try $0.decode("what", as: String.self) }
        #expect(events == ["deleted"])

        let again = try await f.api.send("POST", "/v1/applications/acme/endpoints", token: f.acme, json: ["url": receiver.url("/gone")])
        #expect(again.status == 201 && (again.json["id"] as? NSNumber)?.int64Value != id, "the URL can be registered again: \(again)")
        await receiver.stop()
    }
}
