import Foundation
import Herald
import HeraldTestSupport
import PGDriver
import Synchronization
import Testing

/// Applications, subscriptions and fan-out (issue #13) end to end: `publish()` in SQL, real `herald worker`
/// processes at their default slots and batch, a real HTTP receiver on 127.0.0.1.
@Suite("Fan-out")
struct FanOutTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    /// Registers an endpoint of `app` (created if missing) the way `herald endpoints add` stores it; returns its id.
    func endpoint(
        _ conn: PGConnection, _ schema: String, app: String, url: String, types: [String]? = nil, channels: [String]? = nil,
        enabled: Bool = true, extra: String = ""
    ) async throws -> Int64 {
        try await conn.query(
            "INSERT INTO \(unescaped: schema).applications (id, name) VALUES (\(app), \(app)) ON CONFLICT DO NOTHING")
        let id = try await conn.query(
            """
            INSERT INTO \(unescaped: schema).endpoints (application_id, url, secret, event_types, channels, enabled, disabled_reason)
            VALUES (\(app), \(url), \(unescaped: schema).new_webhook_secret(), \(types.map(Self.array))::text[], \(channels.map(Self.array))::text[],
                    \(enabled), \(enabled ? nil : "off for the test"))
            RETURNING id
            """
        ).first?.decode("id", as: Int64.self)
        let endpointID = try #require(id)
        if !extra.isEmpty {
            try await conn.query("UPDATE \(unescaped: schema).endpoints SET \(unescaped: extra) WHERE id = \(endpointID)")
        }
        return endpointID
    }

    static func array(_ values: [String]) -> String { "{" + values.map { "\"\($0)\"" }.joined(separator: ",") + "}" }

    func publish(
        _ conn: PGConnection, _ schema: String, app: String, type: String, payload: String, eventID: String? = nil, channels: [String]? = nil
    ) async throws -> (message: Int64, duplicate: Bool, queued: Int) {
        let row = try #require(
            try await conn.query(
                """
                SELECT message_id, duplicate, queued FROM \(unescaped: schema).publish_with_outcome(\(app), \(type), convert_to(\(payload), 'UTF8'),
                    \(eventID), \(channels.map(Self.array))::text[])
                """
            ).first)
        return (try row.decode("message_id"), try row.decode("duplicate"), try row.decode("queued"))
    }

    func secret(_ conn: PGConnection, _ schema: String, endpoint: Int64) async throws -> WebhookSecret {
        try WebhookSecret(try #require(try await conn.query("SELECT secret FROM \(unescaped: schema).endpoints WHERE id = \(endpoint)").first?.decode("secret", as: String.self)))
    }

    func verifies(_ request: TestReceiver.Request, with secret: WebhookSecret) -> Bool {
        guard let timestamp = Int(request.headers["webhook-timestamp"] ?? "") else { return false }
        return request.headers["webhook-signature"] == WebhookSigner.signature(id: request.key, timestamp: timestamp, body: request.body, secret: secret)
    }

    @Test("publish fans out to exactly the subscribed endpoints; one message per event id; the payload stored once; rollback leaves nothing")
    func fanOut() async throws {
        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema()
        let wildcard = try await endpoint(conn, schema, app: "acme", url: receiver.url("/wildcard"), types: ["invoice.*"])
        let exact = try await endpoint(conn, schema, app: "acme", url: receiver.url("/exact"), types: ["invoice.paid"])
        let euOnly = try await endpoint(conn, schema, app: "acme", url: receiver.url("/eu"), channels: ["eu"])
        _ = try await endpoint(conn, schema, app: "acme", url: receiver.url("/users"), types: ["user.created"])
        _ = try await endpoint(conn, schema, app: "acme", url: receiver.url("/disabled"), enabled: false)
        _ = try await endpoint(conn, schema, app: "globex", url: receiver.url("/other-app"))

        let first = try await publish(conn, schema, app: "acme", type: "invoice.paid", payload: "{\"invoice\":1}", eventID: "ev-1", channels: ["eu"])
        #expect(!first.duplicate)
        #expect(first.queued == 3)
        let again = try await publish(conn, schema, app: "acme", type: "invoice.paid", payload: "{\"invoice\":1}", eventID: "ev-1", channels: ["eu"])
        #expect(again.message == first.message)
        #expect(again.duplicate)
        #expect(again.queued == 0)
        let voided = try await publish(conn, schema, app: "acme", type: "invoice.voided", payload: "{\"invoice\":2}")
        #expect(voided.queued == 1, "invoice.* only; the eu endpoint wants a channel the message does not name")

        // A publish in a transaction that rolls back leaves nothing.
        struct RolledBack: Error {}
        await #expect(throws: RolledBack.self) {
            try await conn.withTransaction { tx in
                _ = try await publish(tx, schema, app: "acme", type: "invoice.paid", payload: "{}", eventID: "rolled-back")
                throw RolledBack()
            }
        }
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).messages WHERE event_id = 'rolled-back'") == 0)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries") == 4)

        // Stored once: the deliveries carry no body of their own.
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).messages") == 2)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE body IS NOT NULL OR message_id IS NULL") == 0)

        let workers = try (0..<2).map { _ in try HeraldProcess.worker(pg, schema: schema) }
        // Both up (a SIGTERM before a worker installed its handlers would end it by the signal, exit 143).
        try await Wait.until("both workers' heartbeats", timeout: .seconds(30)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).worker_heartbeats") == 2
        }
        try await Wait.until("4 deliveries delivered", timeout: .seconds(30)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'delivered'") == 4
        }
        for w in workers { w.signal(SIGTERM) }
        for w in workers { #expect(try await w.waitForExit() == 0, "\(w.output.suffix(2000))") }

        #expect(receiver.requests(path: "/wildcard").map { String(decoding: $0.body, as: UTF8.self) }.sorted() == ["{\"invoice\":1}", "{\"invoice\":2}"])
        #expect(receiver.requests(path: "/exact").map { String(decoding: $0.body, as: UTF8.self) } == ["{\"invoice\":1}"])
        #expect(receiver.requests(path: "/eu").map { String(decoding: $0.body, as: UTF8.self) } == ["{\"invoice\":1}"])
        for path in ["/users", "/disabled", "/other-app"] { #expect(receiver.requests(path: path).isEmpty, "\(path) got a request") }
        for (path, id) in [("/wildcard", wildcard), ("/exact", exact), ("/eu", euOnly)] {
            let secret = try await secret(conn, schema, endpoint: id)
            #expect(receiver.requests(path: path).allSatisfy { verifies($0, with: secret) }, "\(path) signature")
        }
        await receiver.stop()
        await conn.close()
    }

    @Test("the same URL in two applications is two endpoints with two secrets; each signature verifies only with its own")
    func sameURLTwoApplications() async throws {
        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema()
        let url = receiver.url("/shared")
        let a = try await endpoint(conn, schema, app: "tenant-a", url: url)
        let b = try await endpoint(conn, schema, app: "tenant-b", url: url)
        #expect(a != b)
        _ = try await publish(conn, schema, app: "tenant-a", type: "ping", payload: "\"a\"")
        _ = try await publish(conn, schema, app: "tenant-b", type: "ping", payload: "\"b\"")
        let worker = try HeraldProcess.worker(pg, schema: schema)
        try await Wait.until("both delivered", timeout: .seconds(30)) { receiver.requests(path: "/shared").count == 2 }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        let secretA = try await secret(conn, schema, endpoint: a)
        let secretB = try await secret(conn, schema, endpoint: b)
        #expect(secretA.encoded != secretB.encoded)
        let requests = receiver.requests(path: "/shared")
        let toA = try #require(requests.first { $0.body == Array("\"a\"".utf8) })
        let toB = try #require(requests.first { $0.body == Array("\"b\"".utf8) })
        #expect(verifies(toA, with: secretA))
        #expect(!verifies(toA, with: secretB))
        #expect(verifies(toB, with: secretB))
        #expect(!verifies(toB, with: secretA))
        await receiver.stop()
        await conn.close()
    }

    @Test("410 Gone disables the endpoint at once, records the event and sends the signed operational webhook; later publishes skip it; enable --replay-since re-sends")
    func goneDisables() async throws {
        let healed = Atomic<Bool>(false)
        let receiver = try await TestReceiver.start { request, _ in
            request.path == "/gone" && !healed.load(ordering: .relaxed) ? .status(410) : .status(200)
        }
        let (schema, conn) = try await pg.migratedSchema()
        let gone = try await endpoint(conn, schema, app: "acme", url: receiver.url("/gone"))
        let operations = try await endpoint(conn, schema, app: "_operations", url: receiver.url("/ops"), types: ["endpoint.*"])
        _ = try await publish(conn, schema, app: "acme", type: "invoice.paid", payload: "{}")
        let worker = try HeraldProcess.worker(pg, schema: schema)
        try await Wait.until("the operational webhook", timeout: .seconds(30)) { !receiver.requests(path: "/ops").isEmpty }
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit() == 0)

        let row = try #require(try await conn.query("SELECT enabled, disabled_reason, disabled_at FROM \(unescaped: schema).endpoints WHERE id = \(gone)").first)
        #expect(try row.decode("enabled", as: Bool.self) == false)
        #expect(try row.decode("disabled_reason", as: String?.self)?.contains("410") == true)
        #expect(try row.decode("disabled_at", as: Date?.self) != nil)
        let events = try await conn.query("SELECT what, reason, actor FROM \(unescaped: schema).endpoint_events WHERE endpoint_id = \(gone)")
        #expect(try events.rows.map { try $0.decode("what", as: String.self) } == ["disabled"])
        #expect(try events.first?.decode("actor", as: String.self) == "herald worker")
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE endpoint_id = \(gone) AND state = 'failed'") == 1)
        #expect(receiver.requests(path: "/gone").count == 1)

        let ops = receiver.requests(path: "/ops")
        #expect(ops.count == 1)
        let webhook = try #require(ops.first)
        #expect(verifies(webhook, with: try await secret(conn, schema, endpoint: operations)))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(webhook.body)) as? [String: Any])
        #expect(object["type"] as? String == "endpoint.disabled")
        let data = try #require(object["data"] as? [String: Any])
        #expect((data["endpointId"] as? NSNumber)?.int64Value == gone)
        #expect(data["appId"] as? String == "acme")

        let later = try await publish(conn, schema, app: "acme", type: "invoice.paid", payload: "{}")
        #expect(later.queued == 0, "a disabled endpoint gets no new deliveries")

        // The receiver is fixed: enable --replay-since re-sends what failed while it was down, same key.
        healed.store(true, ordering: .relaxed)
        let enabled = try await HeraldBinary.run(
            ["endpoints", "enable", String(gone), "--replay-since", "1h", "--schema", schema], environment: ["DATABASE_URL": pg.url])
        #expect(enabled.status == 0, "\(enabled.stderr)")
        let again = try HeraldProcess.worker(pg, schema: schema)
        try await Wait.until("the replayed delivery delivered and endpoint.enabled sent", timeout: .seconds(30)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE endpoint_id = \(gone) AND state = 'delivered'") == 1
                && receiver.requests(path: "/ops").count == 2
        }
        again.signal(SIGTERM)
        #expect(try await again.waitForExit() == 0)
        let sends = receiver.requests(path: "/gone")
        #expect(sends.count == 2)
        #expect(Set(sends.map(\.key)).count == 1, "the replay keeps the delivery's idempotency key")
        let enabledEvent = try #require(try JSONSerialization.jsonObject(with: Data(receiver.requests(path: "/ops")[1].body)) as? [String: Any])
        #expect(enabledEvent["type"] as? String == "endpoint.enabled")
        #expect(try await conn.query("SELECT what FROM \(unescaped: schema).endpoint_events WHERE endpoint_id = \(gone) ORDER BY id").rows.map { try $0.decode("what", as: String.self) } == ["disabled", "enabled"])
        await receiver.stop()
        await conn.close()
    }

    @Test("sustained failure: an endpoint failing longer than --disable-failing-after is disabled; one that succeeds in between is not")
    func sustainedFailureDisables() async throws {
        let receiver = try await TestReceiver.start { request, attempt in
            request.path == "/down" ? .status(500) : (attempt % 2 == 1 ? .status(500) : .status(200))
        }
        let (schema, conn) = try await pg.migratedSchema()
        // A high breaker threshold keeps the breaker out of the way: this is about the endpoint's lifecycle.
        let down = try await endpoint(conn, schema, app: "acme", url: receiver.url("/down"), types: ["down"], extra: "breaker_failure_threshold = 1000, max_attempts = 50")
        let flaky = try await endpoint(conn, schema, app: "acme", url: receiver.url("/flaky"), types: ["flaky"], extra: "breaker_failure_threshold = 1000")
        _ = try await publish(conn, schema, app: "acme", type: "down", payload: "{}")
        let worker = try HeraldProcess.worker(
            pg, schema: schema, ["--disable-failing-after", "3s", "--backoff-base", "1s", "--backoff-factor", "1", "--poll-interval", "100ms"])
        try await Wait.until("failing since set", timeout: .seconds(20)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).endpoints WHERE id = \(down) AND failing_since IS NOT NULL") == 1
        }
        // The flaky endpoint fails then succeeds, again and again, for as long as the dead one takes to go.
        for n in 0..<6 { _ = try await publish(conn, schema, app: "acme", type: "flaky", payload: "{\"n\":\(n)}") }
        try await Wait.until("the dead endpoint disabled", timeout: .seconds(30)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).endpoints WHERE id = \(down) AND NOT enabled") == 1
        }
        try await Wait.until("the flaky deliveries delivered", timeout: .seconds(30)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE endpoint_id = \(flaky) AND state = 'delivered'") == 6
        }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        // The log says when each retry comes back, and which endpoint went.
        let log = worker.output
        #expect(log.contains("retry_delay_ms=") && log.contains("next_attempt_at=20"), "\(log.suffix(1500))")
        #expect(log.contains("endpoint \(down) disabled: every attempt failed for"))
        let reason = try await conn.query("SELECT disabled_reason FROM \(unescaped: schema).endpoints WHERE id = \(down)").first?.decode("disabled_reason", as: String?.self)
        #expect(reason?.hasPrefix("every attempt failed for") == true)
        #expect(receiver.requests(path: "/down").count >= 3, "it was tried for the whole period")
        let flakyRow = try #require(try await conn.query("SELECT enabled, failing_since FROM \(unescaped: schema).endpoints WHERE id = \(flaky)").first)
        #expect(try flakyRow.decode("enabled", as: Bool.self))
        #expect(try flakyRow.decode("failing_since", as: Date?.self) == nil, "a success cleared it")
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).endpoint_events WHERE endpoint_id = \(down) AND what = 'disabled'") == 1)
        await receiver.stop()
        await conn.close()
    }

    @Test("endpoint_outcomes_record with the clock moved: failing since 6 days disables; a success clears; exhausted deliveries become operational events")
    func outcomesRecordRules() async throws {
        let (schema, conn) = try await pg.migratedSchema()
        let e = try await endpoint(conn, schema, app: "acme", url: "https://example.com/a")
        _ = try await endpoint(conn, schema, app: "_operations", url: "https://example.com/ops")
        let fiveDays: Int64 = 5 * 86_400_000
        func record(_ json: String) async throws -> [String] {
            try await conn.query(
                "SELECT disabled_why FROM \(unescaped: schema).endpoint_outcomes_record(\(json)::jsonb, \(fiveDays)::bigint)"
            ).rows.map { try $0.decode("disabled_why", as: String.self) }
        }
        func failingSince() async throws -> Date? {
            try await conn.query("SELECT failing_since FROM \(unescaped: schema).endpoints WHERE id = \(e)").first?.decode("failing_since", as: Date?.self) ?? nil
        }
        #expect(try await record("[{\"endpoint_id\":\(e),\"failed\":true}]").isEmpty)
        #expect(try await failingSince() != nil)
        #expect(try await record("[{\"endpoint_id\":\(e),\"succeeded\":true,\"failed\":true}]").isEmpty)
        #expect(try await failingSince() == nil, "a batch with a success clears it")
        #expect(try await record("[{\"endpoint_id\":\(e),\"failed\":true}]").isEmpty)
        // Move the clock: the endpoint has been failing for six days.
        try await conn.query("UPDATE \(unescaped: schema).endpoints SET failing_since = now() - interval '6 days' WHERE id = \(e)")
        let disabled = try await record("[{\"endpoint_id\":\(e),\"failed\":true}]")
        #expect(disabled.count == 1)
        #expect(disabled.first?.hasPrefix("every attempt failed for 6 days") == true)
        #expect(try await record("[{\"endpoint_id\":\(e),\"failed\":true}]").isEmpty, "already disabled: nothing more")
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).messages WHERE application_id = '_operations' AND event_type = 'endpoint.disabled'") == 1)

        let delivery = try await publish(conn, schema, app: "acme", type: "x", payload: "{}")
        #expect(delivery.queued == 0)
        try await conn.query("SELECT \(unescaped: schema).endpoint_set_enabled(\(e), true, NULL)")
        _ = try await publish(conn, schema, app: "acme", type: "x", payload: "{}")
        let dead = try #require(try await conn.query("SELECT id FROM \(unescaped: schema).deliveries WHERE endpoint_id = \(e)").first?.decode("id", as: Int64.self))
        _ = try await record("[{\"endpoint_id\":\(e),\"failed\":true,\"exhausted\":[\(dead)]}]")
        let exhausted = try await conn.query(
            "SELECT convert_from(payload, 'UTF8') AS p FROM \(unescaped: schema).messages WHERE application_id = '_operations' AND event_type = 'message.attempt.exhausted'")
        #expect(exhausted.rows.count == 1)
        #expect(try exhausted.first?.decode("p", as: String.self).contains("\"deliveryId\": \(dead)") == true)
        #expect(try await conn.query("SELECT what FROM \(unescaped: schema).endpoint_events WHERE endpoint_id = \(e) ORDER BY id").rows.map { try $0.decode("what", as: String.self) } == ["disabled", "enabled"])
        await conn.close()
    }

    @Test("a schema migrated from 0011 with pending deliveries in it keeps delivering them; enqueue keeps its endpoint")
    func migratedFromPreviousSchema() async throws {
        let receiver = try await TestReceiver.start()
        let schema = TestPostgres.uniqueSchema("m")
        let conn = try await pg.connect()
        let name = try SchemaName(schema)
        _ = try await Migrator(connection: conn, schema: name, migrations: Migration.embedded.filter { $0.version <= 11 }).migrate()
        try await conn.query(
            "SELECT \(unescaped: schema).enqueue(\(receiver.url("/old")), convert_to('{\"n\":' || g || '}', 'UTF8'), 'old.event', 'ev-' || g) FROM generate_series(1, 50) g")
        let report = try await Migrator(connection: conn, schema: name).migrate()
        #expect(report.applied.map(\.version).contains(12))
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).endpoints WHERE application_id = 'default'") == 1)
        // The same URL and event id after the migration: the same endpoint, a duplicate.
        let again = try await conn.query(
            "SELECT duplicate, target_endpoint_id FROM \(unescaped: schema).enqueue_with_outcome(\(receiver.url("/old")), '{}'::bytea, 'old.event', 'ev-1')").first
        #expect(try again?.decode("duplicate", as: Bool.self) == true)
        let worker = try HeraldProcess.worker(pg, schema: schema)
        try await Wait.until("50 delivered", timeout: .seconds(30)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'delivered'") == 50
        }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        let bodies = Set(receiver.requests(path: "/old").map { String(decoding: $0.body, as: UTF8.self) })
        #expect(bodies.count == 50)
        #expect(bodies.contains("{\"n\":50}"))
        await receiver.stop()
        await conn.close()
    }

    @Test("endpoint headers and timeout: the endpoint's header is sent and redacted in the attempt log; its shorter timeout applies; a pruned payload fails alone")
    func endpointSettingsAndPrunedPayload() async throws {
        let receiver = try await TestReceiver.start { request, _ in request.path == "/slow" ? .status(200, delay: .seconds(3)) : .status(200) }
        let (schema, conn) = try await pg.migratedSchema()
        _ = try await endpoint(conn, schema, app: "acme", url: receiver.url("/auth"), types: ["auth"], extra: "headers = '{\"Authorization\": \"Bearer s3cret-token\"}'")
        _ = try await endpoint(conn, schema, app: "acme", url: receiver.url("/slow"), types: ["slow"], extra: "request_timeout_ms = 500")
        _ = try await endpoint(conn, schema, app: "acme", url: receiver.url("/pruned"), types: ["pruned"])
        _ = try await publish(conn, schema, app: "acme", type: "auth", payload: "{}")
        let slowMessage = try await publish(conn, schema, app: "acme", type: "slow", payload: "{}")
        let pruned = try await publish(conn, schema, app: "acme", type: "pruned", payload: "{}")
        try await conn.query("UPDATE \(unescaped: schema).messages SET payload = NULL, payload_pruned_at = now() WHERE id = \(pruned.message)")
        let worker = try HeraldProcess.worker(pg, schema: schema)
        try await Wait.until("auth delivered, slow timed out once, pruned failed", timeout: .seconds(30)) {
            try await conn.count(
                """
                SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries d JOIN \(unescaped: schema).endpoints e ON e.id = d.endpoint_id
                WHERE (e.url LIKE '%/auth' AND d.state = 'delivered') OR (e.url LIKE '%/pruned' AND d.state = 'failed')
                   OR (e.url LIKE '%/slow' AND d.attempts >= 1)
                """) == 3
        }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        #expect(receiver.requests(path: "/auth").first?.headers["authorization"] == "Bearer s3cret-token")
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).attempts WHERE request_headers::text LIKE '%s3cret-token%'") == 0)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).attempts WHERE request_headers ->> 'Authorization' LIKE '[redacted%'") == 1)
        let slowError = try await conn.query(
            "SELECT a.error FROM \(unescaped: schema).attempts a JOIN \(unescaped: schema).deliveries d ON d.id = a.delivery_id WHERE d.message_id = \(slowMessage.message) AND a.outcome <> 'unknown'"
        ).first?.decode("error", as: String?.self)
        #expect(slowError?.contains("0.5s") == true, "the endpoint's 500 ms timeout, not the worker's 15 s: \(String(describing: slowError))")
        let prunedError = try await conn.query("SELECT last_error FROM \(unescaped: schema).deliveries WHERE message_id = \(pruned.message)").first?.decode("last_error", as: String?.self)
        #expect(prunedError?.contains("payload was pruned") == true)
        #expect(receiver.requests(path: "/pruned").isEmpty)
        await receiver.stop()
        await conn.close()
    }

    @Test("with HERALD_ENCRYPTION_KEY, an endpoint's headers written in clear by SQL are sealed by the worker and still sent")
    func endpointHeadersSealed() async throws {
        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema()
        let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let id = try await endpoint(conn, schema, app: "acme", url: receiver.url("/sealed"), extra: "headers = '{\"Authorization\": \"Bearer clear-at-first\"}'")
        let worker = try HeraldProcess(
            ["worker", "--schema", schema, "--allow-private-networks"], environment: ["DATABASE_URL": pg.url, "HERALD_ENCRYPTION_KEY": key])
        try await Wait.until("the endpoint's headers sealed", timeout: .seconds(20)) {
            try await conn.count(
                "SELECT count(*)::int AS n FROM \(unescaped: schema).endpoints WHERE id = \(id) AND headers::text NOT LIKE '%clear-at-first%' AND headers ? '(sealed)'") == 1
        }
        _ = try await publish(conn, schema, app: "acme", type: "t", payload: "{}")
        try await Wait.until("delivered", timeout: .seconds(20)) { !receiver.requests(path: "/sealed").isEmpty }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        #expect(receiver.requests(path: "/sealed").first?.headers["authorization"] == "Bearer clear-at-first")
        await receiver.stop()
        await conn.close()
    }

    @Test("the producer's traceparent reaches the receiver as a child span per attempt, from publish and from enqueue; the log names the trace")
    func traceContextEndToEnd() async throws {
        let receiver = try await TestReceiver.start { _, attempt in attempt == 1 ? .status(500) : .status(200) }
        let (schema, conn) = try await pg.migratedSchema()
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        let producer = "00-\(trace)-00f067aa0ba902b7-01"
        _ = try await endpoint(conn, schema, app: "acme", url: receiver.url("/traced"))
        try await conn.query(
            "SELECT \(unescaped: schema).publish('acme', 'invoice.paid', '{}'::bytea, p_traceparent => \(producer), p_headers => '{\"traceparent\": \"00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01\"}')")
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/direct")), '{}'::bytea, p_traceparent => \(producer))")
        // A malformed trace context is refused like any other invalid input, nothing written.
        await #expect(throws: PGError.self) {
            try await conn.query("SELECT \(unescaped: schema).publish('acme', 'x', '{}'::bytea, p_traceparent => '00-00000000000000000000000000000000-00f067aa0ba902b7-01')")
        }
        let worker = try HeraldProcess.worker(pg, schema: schema, ["--backoff-base", "1s", "--backoff-factor", "1"])
        try await Wait.until("both delivered after a retry", timeout: .seconds(30)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'delivered'") == 2
        }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        for path in ["/traced", "/direct"] {
            let sent = receiver.requests(path: path).map { $0.headers["traceparent"] ?? "none" }
            #expect(sent.count == 2, "\(path): \(sent)")
            let parts = sent.map { $0.split(separator: "-").map(String.init) }
            #expect(parts.allSatisfy { $0.count == 4 && $0[0] == "00" && $0[1] == trace && $0[3] == "01" }, "\(path): \(sent)")
            let spans = Set(parts.compactMap { $0.count == 4 ? $0[2] : nil })
            #expect(spans.count == 2 && !spans.contains("00f067aa0ba902b7"), "a new span per attempt, never the producer's: \(sent)")
        }
        #expect(try await conn.count(
            "SELECT count(*)::int AS n FROM \(unescaped: schema).attempts WHERE request_headers ->> 'traceparent' LIKE '00-\(unescaped: trace)-%'") == 4,
            "the attempt log records the traceparent each attempt sent")
        #expect(worker.output.contains("trace_id=\(trace)"))
        await receiver.stop()
        await conn.close()
    }
}
