import Foundation
import Herald
import HeraldTestSupport
import PGDriver
import Testing

/// Issue #13's producer and operator surface through the real `herald` binary: publish and fan-out,
/// applications, endpoints per application, enable --replay-since, retry-now, messages, and prune by
/// retention and payload age.
@Suite("Application commands")
struct ApplicationCommandsTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    func herald(_ schema: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> HeraldBinary.Result {
        try await HeraldBinary.run(arguments + ["--schema", schema], environment: ["DATABASE_URL": pg.url].merging(environment) { $1 })
    }

    /// `herald …--json` parsed as an object; fails the test (with stderr) on a non-zero exit.
    func json(_ schema: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> [String: Any] {
        let result = try await herald(schema, arguments + ["--json"], environment: environment)
        #expect(result.status == 0, "\(arguments): \(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
    }

    /// Adds an endpoint with `extra` options and returns its id.
    func addEndpoint(_ schema: String, app: String, url: String, _ extra: [String] = []) async throws -> Int64 {
        let added = try await json(schema, ["endpoints", "add", "--app", app, "--url", url] + extra)
        return Int64(try #require(added["id"] as? Int))
    }

    func count(_ conn: PGConnection, _ schema: String, _ table: String, _ condition: String = "true") async throws -> Int {
        try await conn.count(PGQuery(sql: "SELECT count(*)::int AS n FROM \(schema).\(table) WHERE \(condition)"))
    }

    @Test("publish fans out to subscribed endpoints only (type patterns, channels, disabled), and prints the count")
    func fanOut() async throws {
        let (schema, conn) = try await pg.migratedSchema("app")
        let invoices = try await addEndpoint(schema, app: "acme", url: "https://example.com/invoices", ["--types", "invoice.*"])
        let orders = try await addEndpoint(schema, app: "acme", url: "https://example.com/orders", ["--types", "order.created"])
        let eu = try await addEndpoint(schema, app: "acme", url: "https://example.com/eu", ["--channels", "eu"])
        let off = try await addEndpoint(schema, app: "acme", url: "https://example.com/off")
        _ = try await addEndpoint(schema, app: "other", url: "https://example.com/invoices")
        #expect(try await herald(schema, ["endpoints", "disable", String(off), "--reason", "test"]).status == 0)

        let plain = try await herald(schema, ["publish", "--app", "acme", "--type", "invoice.paid", "--data", "{\"n\":1}"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.contains("queued 1 delivery"), "only invoice.* matches: \(plain.stdout)")
        let onEU = try await json(schema, ["publish", "--app", "acme", "--type", "invoice.paid", "--data", "{}", "--channel", "eu"])
        #expect(onEU["queued"] as? Int == 2, "invoice.* and the eu channel endpoint: \(onEU)")
        #expect(onEU["duplicate"] as? Bool == false)
        let order = try await json(schema, ["publish", "--app", "acme", "--type", "order.created", "--data", "{}"])
        #expect(order["queued"] as? Int == 1)
        let none = try await herald(schema, ["publish", "--app", "acme", "--type", "user.deleted", "--data", "{}"])
        #expect(none.stdout.contains("queued 0 deliveries") && none.stderr.contains("no enabled endpoint"), "\(none.stdout) \(none.stderr)")

        let euMessage = try #require(onEU["message_id"] as? Int)
        let targets = try await conn.query(
            "SELECT endpoint_id FROM \(unescaped: schema).deliveries WHERE message_id = \(Int64(euMessage)) ORDER BY endpoint_id"
        ).rows.map { try $0.decode("endpoint_id", as: Int64.self) }
        #expect(targets == [invoices, eu])
        #expect(try await count(conn, schema, "deliveries", "endpoint_id = \(orders)") == 1)
        #expect(try await count(conn, schema, "deliveries", "endpoint_id = \(off)") == 0, "a disabled endpoint gets nothing")
        #expect(try await count(conn, schema, "messages") == 4, "the payload is stored once per publish")
        #expect(try await count(conn, schema, "deliveries", "body IS NOT NULL") == 0, "deliveries of messages carry no body of their own")
        await conn.close()
    }

    @Test("the same event id published twice is one message; the second says duplicate and queues nothing")
    func duplicateEventID() async throws {
        let (schema, conn) = try await pg.migratedSchema("app")
        _ = try await addEndpoint(schema, app: "acme", url: "https://example.com/a")
        let first = try await json(schema, ["publish", "--app", "acme", "--type", "t.x", "--data", "{}", "--event-id", "evt_1"])
        let second = try await herald(schema, ["publish", "--app", "acme", "--type", "t.x", "--data", "{\"other\":1}", "--event-id", "evt_1"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("message \(first["message_id"] as? Int ?? -1)  duplicate"), "\(second.stdout)")
        #expect(try await count(conn, schema, "messages") == 1)
        #expect(try await count(conn, schema, "deliveries") == 1)
        let elsewhere = try await json(schema, ["publish", "--app", "acme2", "--type", "t.x", "--data", "{}", "--event-id", "evt_1"])
        #expect(elsewhere["duplicate"] as? Bool == false, "event ids are per application")
        await conn.close()
    }

    @Test("invalid application, type, channel, payload or header: exit 64 and nothing written")
    func invalidPublish() async throws {
        let (schema, conn) = try await pg.migratedSchema("app")
        let applications = try await count(conn, schema, "applications")
        let cases: [[String]] = [
            ["--app", "bad app", "--type", "t.x", "--data", "{}"],
            ["--app", "_herald", "--type", "t.x", "--data", "{}"],
            ["--app", "_operations", "--type", "t.x", "--data", "{}"],
            ["--app", "acme", "--type", "bad type!", "--data", "{}"],
            ["--app", "acme", "--type", "t.x", "--data", "{}", "--channel", "bad channel"],
            ["--app", "acme", "--type", "t.x", "--data", "not json"],
            ["--app", "acme", "--type", "t.x", "--data", "{}", "--header", "Content-Type: text/plain"],
            ["--app", "acme", "--type", "t.x", "--data", "{}", "--event-id", ""],
        ]
        for arguments in cases {
            let result = try await herald(schema, ["publish"] + arguments)
            #expect(result.status == 64, "\(arguments): \(result.status) \(result.stderr)")
            #expect(result.stderr.hasPrefix("herald: ") || result.stderr.hasPrefix("Error: "), "says why: \(result.stderr)")
        }
        #expect(try await count(conn, schema, "messages") == 0)
        #expect(try await count(conn, schema, "applications") == applications)
        let text = try await herald(schema, ["publish", "--app", "acme", "--type", "t.x", "--data", "plain", "--content-type", "text/plain"])
        #expect(text.status == 0, "a non-JSON content type takes any payload: \(text.stderr)")
        let stdin = try await HeraldBinary.run(
            ["publish", "--app", "acme", "--type", "t.y", "--schema", schema], environment: ["DATABASE_URL": pg.url], stdin: Data("{\"s\":1}".utf8))
        #expect(stdin.status == 0, "payload on standard input: \(stdin.stderr)")
        #expect(try await count(conn, schema, "messages", "event_type = 't.y' AND payload = convert_to('{\"s\":1}', 'UTF8')") == 1)
        await conn.close()
    }

    @Test("the same URL in two applications is two endpoints with two secrets; a URL in several needs --app")
    func sameURLTwoApps() async throws {
        let (schema, conn) = try await pg.migratedSchema("app")
        let url = "https://example.com/shared"
        let a = try await json(schema, ["endpoints", "add", "--app", "a", "--url", url])
        let b = try await json(schema, ["endpoints", "add", "--app", "b", "--url", url])
        #expect(a["id"] as? Int != b["id"] as? Int)
        #expect(a["secret"] as? String != b["secret"] as? String)
        #expect(b["application_id"] as? String == "b")
        let again = try await herald(schema, ["endpoints", "add", "--app", "a", "--url", url])
        #expect(again.status == 1 && again.stderr.contains("already exists in application \"a\""), "\(again.stderr)")
        let ambiguous = try await herald(schema, ["endpoints", "show", url])
        #expect(ambiguous.status == 64 && ambiguous.stderr.contains("give --app"), "\(ambiguous.stderr)")
        let shown = try await herald(schema, ["endpoints", "show", url, "--app", "b"])
        #expect(shown.status == 0 && shown.stdout.contains("application  b"), "\(shown.stdout)")
        let listed = try await herald(schema, ["endpoints", "list", "--app", "a", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["id"] as? Int } == [a["id"] as? Int])
        #expect(try await herald(schema, ["endpoints", "disable", url, "--reason", "x"]).status == 64, "disabling by an ambiguous URL is refused")
        #expect(try await count(conn, schema, "endpoints", "NOT enabled") == 0)
        #expect(try await herald(schema, ["endpoints", "add", "--app", "a", "--url", "https://example.com/t", "--types", "bad type"]).status == 64)
        #expect(try await herald(schema, ["endpoints", "add", "--app", "a", "--url", "https://example.com/c", "--channels", "x,bad channel"]).status == 64)
        #expect(try await herald(schema, ["endpoints", "add", "--app", "bad app", "--url", "https://example.com/x"]).status == 64)
        #expect(try await count(conn, schema, "endpoints") == 2, "refused adds write nothing")
        let ops = try await herald(schema, ["endpoints", "add", "--app", "_operations", "--url", "https://ops.example.com/h", "--types", "endpoint.*"])
        #expect(ops.status == 0, "operators register endpoints in _operations: \(ops.stderr)")
        #expect(try await herald(schema, ["endpoints", "add", "--app", "_mine", "--url", "https://ops.example.com/h"]).status == 64,
                "other ids starting with _ are Herald's")
        await conn.close()
    }

    @Test("endpoints set round-trips every setting; header values are sealed with a key and never printed")
    func setRoundTrip() async throws {
        let (schema, conn) = try await pg.migratedSchema("app")
        let key = ["HERALD_ENCRYPTION_KEY": Data((0..<32).map { UInt8($0) }).base64EncodedString()]
        let id = String(try await addEndpoint(schema, app: "acme", url: "https://example.com/s", ["--header", "Authorization: Bearer s3cr3t-token"]))
        let set = try await json(schema, [
            "endpoints", "set", id, "--description", "billing hooks", "--types", "invoice.*,order.created", "--channels", "eu,us",
            "--header", "X-Tenant: acme-tenant", "--remove-header", "authorization", "--timeout", "2500ms", "--max-attempts", "7",
            "--backoff-base", "10s", "--backoff-cap", "1h", "--max-in-flight", "3", "--rate-limit", "50/s", "--ordered", "on",
        ], environment: key)
        #expect(set["description"] as? String == "billing hooks")
        #expect(set["event_types"] as? [String] == ["invoice.*", "order.created"])
        #expect(set["channels"] as? [String] == ["eu", "us"])
        #expect(set["header_names"] as? [String] == ["X-Tenant"])
        #expect(set["headers_sealed"] as? Bool == true)
        #expect(set["request_timeout_ms"] as? Int == 2500)
        #expect(set["max_attempts"] as? Int == 7)
        #expect(set["backoff_base_ms"] as? Int == 10_000)
        #expect(set["backoff_cap_ms"] as? Int == 3_600_000)
        #expect(set["max_in_flight"] as? Int == 3)
        #expect(set["rate_limit_per_minute"] as? Int == 3000)
        #expect(set["ordered"] as? Bool == true)
        let stored = try #require(try await conn.query("SELECT headers::text AS h FROM \(unescaped: schema).endpoints WHERE id = \(Int64(id)!)").first?.decode("h", as: String.self))
        #expect(stored.contains("(sealed)") && !stored.contains("acme-tenant"), "sealed at rest: \(stored)")
        let shown = try await herald(schema, ["endpoints", "show", id], environment: key)
        #expect(shown.stdout.contains("X-Tenant: [redacted]"), "\(shown.stdout)")
        #expect(!shown.stdout.contains("acme-tenant") && !shown.stdout.contains("s3cr3t"), "values are never printed")
        let withoutKey = try await herald(schema, ["endpoints", "show", id])
        #expect(withoutKey.status == 0 && withoutKey.stdout.contains("sealed"), "\(withoutKey.stdout)")

        let refused = try await herald(schema, ["endpoints", "set", id, "--backoff-cap", "5s"], environment: key)
        #expect(refused.status == 64, "a cap below the stored base is refused: \(refused.stderr)")
        let badHeader = try await herald(schema, ["endpoints", "set", id, "--header", "Host: evil"], environment: key)
        #expect(badHeader.status == 64, "\(badHeader.stderr)")

        let reset = try await json(schema, [
            "endpoints", "set", id, "--types", "all", "--channels", "all", "--remove-header", "x-tenant", "--timeout", "none",
            "--max-attempts", "none", "--backoff-base", "none", "--backoff-cap", "none", "--max-in-flight", "none", "--rate-limit", "none",
            "--ordered", "off",
        ], environment: key)
        for field in ["event_types", "channels", "request_timeout_ms", "max_attempts", "backoff_base_ms", "backoff_cap_ms", "max_in_flight",
                      "rate_limit_per_minute"] {
            #expect(reset[field] is NSNull, "\(field): \(reset[field] ?? "missing")")
        }
        #expect(reset["header_names"] as? [String] == [])
        #expect(reset["description"] as? String == "billing hooks", "a setting not given is kept")
        #expect(reset["ordered"] as? Bool == false)
        await conn.close()
    }

    @Test("disable and enable write endpoint events; enable --replay-since replays only what failed since then")
    func enableReplaySince() async throws {
        let (schema, conn) = try await pg.migratedSchema("app")
        let id = try await addEndpoint(schema, app: "acme", url: "https://example.com/r")
        for n in 1...4 { _ = try await json(schema, ["publish", "--app", "acme", "--type", "t.x", "--data", "{\"n\":\(n)}"]) }
        let deliveries = try await conn.query("SELECT id FROM \(unescaped: schema).deliveries ORDER BY id").rows.map { try $0.decode("id", as: Int64.self) }
        #expect(deliveries.count == 4)
        // Two failed 3 hours ago, one 30 minutes ago (dead), one is still pending.
        try await conn.query(
            "UPDATE \(unescaped: schema).deliveries SET state = 'failed', attempts = 1, finished_at = now() - interval '3 hours' WHERE id IN (\(deliveries[0]), \(deliveries[1]))")
        try await conn.query(
            "UPDATE \(unescaped: schema).deliveries SET state = 'dead', attempts = 8, finished_at = now() - interval '30 minutes' WHERE id = \(deliveries[2])")
        #expect(try await herald(schema, ["endpoints", "disable", String(id), "--reason", "customer outage"]).status == 0)
        let enabled = try await herald(schema, ["endpoints", "enable", String(id), "--replay-since", "1h"])
        #expect(enabled.status == 0, "\(enabled.stderr)")
        #expect(enabled.stdout.contains("replayed 1 delivery"), "\(enabled.stdout)")
        let states = try await conn.query("SELECT state FROM \(unescaped: schema).deliveries ORDER BY id").rows.map { try $0.decode("state", as: String.self) }
        #expect(states == ["failed", "failed", "pending", "pending"])
        #expect(try await count(conn, schema, "delivery_events", "what = 'replayed' AND delivery_id = \(deliveries[2])") == 1, "recorded as a replay")
        let events = try await conn.query(
            "SELECT what, reason, actor = session_user AS by_me FROM \(unescaped: schema).endpoint_events WHERE endpoint_id = \(id) ORDER BY id")
        #expect(try events.rows.map { try $0.decode("what", as: String.self) } == ["disabled", "enabled"])
        #expect(try events.rows.first?.decode("reason", as: String?.self) == "customer outage")
        #expect(try events.rows.allSatisfy { try $0.decode("by_me", as: Bool.self) }, "the actor is the session's role")

        let again = try await herald(schema, ["endpoints", "enable", String(id)])
        #expect(again.stdout.contains("already enabled"))
        #expect(try await count(conn, schema, "endpoint_events") == 2, "a no-op enable records nothing")
        let since = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-4 * 3600))
        let byTime = try await json(schema, ["endpoints", "enable", String(id), "--replay-since", since])
        #expect((byTime["replayed"] as? [Int])?.count == 2, "an RFC 3339 time 4 hours ago takes the two older failures: \(byTime)")
        await conn.close()
    }

    @Test("retry-now makes waiting deliveries due without resetting attempts, and skips rows a worker holds")
    func retryNow() async throws {
        let (schema, conn) = try await pg.migratedSchema("app")
        let ids = try await conn.query(
            "SELECT \(unescaped: schema).enqueue('https://example.com/w', '\\x7b7d'::bytea) AS id FROM generate_series(1, 3) ORDER BY 1"
        ).rows.map { try $0.decode("id", as: Int64.self) }
        try await conn.query(
            "UPDATE \(unescaped: schema).deliveries SET attempts = 3, next_attempt_at = now() + interval '2 hours' WHERE id IN (\(ids[0]), \(ids[1]))")
        try await conn.query("UPDATE \(unescaped: schema).deliveries SET state = 'delivered', finished_at = now() WHERE id = \(ids[2])")
        let result = try await herald(schema, ["deliveries", "retry-now", String(ids[0]), String(ids[2])])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("made due now 1 delivery"), "\(result.stdout)")
        #expect(result.stdout.contains("skipped \(ids[2]): already ended (delivered)"), "\(result.stdout)")
        let row = try #require(try await conn.query(
            "SELECT attempts, next_attempt_at <= now() AS due FROM \(unescaped: schema).deliveries WHERE id = \(ids[0])").first)
        #expect(try row.decode("attempts", as: Int.self) == 3, "the budget is kept")
        #expect(try row.decode("due", as: Bool.self))

        // A worker's lease holds the row: retry-now skips it and says so instead of waiting.
        let holder = try await pg.connect()
        let report = try await holder.withTransaction { tx in
            try await tx.query("SELECT id FROM \(unescaped: schema).deliveries WHERE id = \(ids[1]) FOR NO KEY UPDATE")
            return try await herald(schema, ["deliveries", "retry-now", "--endpoint", "https://example.com/w", "--json"])
        }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any], "\(report.stderr)")
        let skipped = try #require(object["skipped"] as? [[String: Any]])
        #expect(skipped.first?["id"] as? Int == Int(ids[1]))
        #expect((skipped.first?["reason"] as? String)?.contains("being sent by a worker") == true, "\(skipped)")
        #expect(try await count(conn, schema, "deliveries", "id = \(ids[1]) AND next_attempt_at > now()") == 1, "the held row is untouched")
        #expect(try await herald(schema, ["deliveries", "retry-now", "999999"]).status == 1, "an unknown id exits 1")
        await holder.close()
        await conn.close()
    }

    @Test("messages list/show: the message and its delivery per endpoint; messages replay replays its ended deliveries")
    func messages() async throws {
        let (schema, conn) = try await pg.migratedSchema("app")
        let first = try await addEndpoint(schema, app: "acme", url: "https://example.com/m1")
        let second = try await addEndpoint(schema, app: "acme", url: "https://example.com/m2")
        let published = try await json(schema, ["publish", "--app", "acme", "--type", "invoice.paid", "--data", "{\"x\":1}", "--event-id", "inv_1",
                                                "--channel", "billing"])
        _ = try await json(schema, ["publish", "--app", "other", "--type", "invoice.paid", "--data", "{}"])
        let messageID = try #require(published["message_id"] as? Int)
        let list = try await herald(schema, ["messages", "list", "--app", "acme", "--json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 1 && rows.first?["size_bytes"] as? Int == 7 && rows.first?["deliveries"] as? Int == 2, "\(rows)")
        let shown = try await herald(schema, ["messages", "show", String(messageID)])
        #expect(shown.status == 0, "\(shown.stderr)")
        for text in ["application acme", "invoice.paid  id inv_1", "billing", "7 bytes", "https://example.com/m1", "https://example.com/m2"] {
            #expect(shown.stdout.contains(text), "\(text): \(shown.stdout)")
        }
        let object = try await json(schema, ["messages", "show", String(messageID)])
        let perEndpoint = try #require(object["deliveries"] as? [[String: Any]])
        #expect(perEndpoint.map { $0["endpoint_id"] as? Int } == [Int(first), Int(second)])

        try await conn.query("UPDATE \(unescaped: schema).deliveries SET state = 'dead', attempts = 8, finished_at = now() WHERE message_id = \(Int64(messageID))")
        let one = try await herald(schema, ["messages", "replay", String(messageID), "--endpoint", String(second)])
        #expect(one.stdout.contains("replayed 1 delivery"), "\(one.stdout)")
        #expect(try await count(conn, schema, "deliveries", "endpoint_id = \(first) AND state = 'dead'") == 1)
        let all = try await herald(schema, ["messages", "replay", String(messageID)])
        #expect(all.stdout.contains("replayed 1 delivery") && all.stdout.contains("still pending"), "\(all.stdout)")
        #expect(try await herald(schema, ["messages", "show", "999999"]).status == 1)
        let deliveryShown = try await herald(schema, ["deliveries", "show", String(try #require(perEndpoint.first?["delivery_id"] as? Int))])
        #expect(deliveryShown.stdout.contains("app      acme") && deliveryShown.stdout.contains("message \(messageID)"), "\(deliveryShown.stdout)")
        let status = try await json(schema, ["status", "--app", "acme"])
        #expect((status["states"] as? [String: Int])?["pending"] == 2, "both replayed: \(status)")
        let otherStatus = try await json(schema, ["status", "--app", "other"])
        #expect((otherStatus["states"] as? [String: Int])?.values.reduce(0, +) == 0, "\(otherStatus)")
        let byApp = try await herald(schema, ["deliveries", "list", "--app", "other", "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(byApp.stdout.utf8)) as? [Any])?.count == 0, "other has no endpoint, so no delivery")
        await conn.close()
    }

    @Test("prune: each application's retention replaces --older-than; messages left with nothing go; payloads drop, rows stay")
    func pruneRetentionAndPayloads() async throws {
        let (schema, conn) = try await pg.migratedSchema("app")
        #expect(try await herald(schema, ["applications", "add", "short", "--retention", "1d"]).status == 0)
        #expect(try await herald(schema, ["applications", "add", "long", "--retention", "90d"]).status == 0)
        #expect(try await herald(schema, ["applications", "add", "plain"]).status == 0)
        for app in ["short", "long", "plain"] {
            _ = try await addEndpoint(schema, app: app, url: "https://example.com/\(app)")
            _ = try await json(schema, ["publish", "--app", app, "--type", "t.x", "--data", "{}"])
        }
        // Each application's delivery ended 3 days ago; the long one also has one that ended 40 days ago.
        _ = try await json(schema, ["publish", "--app", "long", "--type", "t.x", "--data", "{}", "--event-id", "old"])
        try await conn.query("UPDATE \(unescaped: schema).deliveries SET state = 'delivered', attempts = 1, finished_at = now() - interval '3 days'")
        try await conn.query("UPDATE \(unescaped: schema).messages SET created_at = now() - interval '3 days'")
        try await conn.query(
            "UPDATE \(unescaped: schema).deliveries SET finished_at = now() - interval '40 days' WHERE event_id = 'old'")
        try await conn.query(
            "UPDATE \(unescaped: schema).messages SET created_at = now() - interval '40 days' WHERE event_id = 'old'")
        try await conn.query(
            "INSERT INTO \(unescaped: schema).attempts (delivery_id, attempt, worker_id, started_at, outcome) SELECT id, 1, 'w', now() - interval '3 days', 'delivered' FROM \(unescaped: schema).deliveries")

        let preview = try await json(schema, ["prune", "--older-than", "30d", "--dry-run"])
        #expect(preview["deliveries"] as? Int == 1 && preview["messages"] as? Int == 1, "\(preview)")
        let pruned = try await json(schema, ["prune", "--older-than", "30d"])
        #expect(pruned["deliveries"] as? Int == 1, "only short's (1 day retention): \(pruned)")
        #expect(pruned["messages"] as? Int == 1)
        let left = try await conn.query(
            "SELECT m.application_id FROM \(unescaped: schema).messages m ORDER BY m.id").rows.map { try $0.decode("application_id", as: String.self) }
        #expect(left == ["long", "plain", "long"], "long keeps its 40-day-old delivery (90 days), plain keeps 3-day-old ones (30 days)")

        // Payloads: a direct delivery that ended long ago, and one still pending whose message must keep its payload.
        let direct = try #require(try await conn.query(
            "SELECT \(unescaped: schema).enqueue('https://example.com/direct', '\\x7b7d'::bytea) AS id").first?.decode("id", as: Int64.self))
        try await conn.query(
            "UPDATE \(unescaped: schema).deliveries SET state = 'failed', attempts = 1, finished_at = now() - interval '10 days' WHERE id = \(direct)")
        let pending = try await json(schema, ["publish", "--app", "plain", "--type", "t.x", "--data", "{}"])
        try await conn.query(
            "UPDATE \(unescaped: schema).messages SET created_at = now() - interval '10 days' WHERE id = \(Int64(pending["message_id"] as? Int ?? 0))")
        let attemptsBefore = try await count(conn, schema, "attempts")
        let deliveriesBefore = try await count(conn, schema, "deliveries")
        let dropped = try await json(schema, ["prune", "--older-than", "30d", "--payloads-older-than", "2d"])
        #expect(dropped["message_payloads"] as? Int == 3 && dropped["delivery_bodies"] as? Int == 1, "\(dropped)")
        #expect(try await count(conn, schema, "messages", "payload IS NULL AND payload_pruned_at IS NOT NULL") == 3)
        #expect(try await count(conn, schema, "messages", "id = \(Int64(pending["message_id"] as? Int ?? 0)) AND payload IS NOT NULL") == 1,
                "a message with a pending delivery keeps its payload")
        #expect(try await count(conn, schema, "attempts") == attemptsBefore, "every attempt row stays")
        #expect(try await count(conn, schema, "deliveries") == deliveriesBefore, "every delivery row stays")
        let replay = try await herald(schema, ["deliveries", "replay", String(direct)])
        #expect(replay.stdout.contains("skipped \(direct): its payload was pruned"), "\(replay.stdout)")
        #expect(try await count(conn, schema, "deliveries", "id = \(direct) AND state = 'failed'") == 1)
        await conn.close()
    }

    @Test("applications add, list, show, set (retention in whole days or none); refused ids exit 64")
    func applications() async throws {
        let (schema, conn) = try await pg.migratedSchema("app")
        let added = try await json(schema, ["applications", "add", "cust_42", "--name", "Acme Corp", "--retention", "30d"])
        #expect(added["retention_days"] as? Int == 30 && added["name"] as? String == "Acme Corp")
        #expect(try await herald(schema, ["applications", "add", "cust_42"]).status == 1, "an existing id is a conflict")
        #expect(try await herald(schema, ["applications", "add", "_mine"]).status == 64, "ids starting with _ are Herald's")
        #expect(try await herald(schema, ["applications", "add", "bad id"]).status == 64)
        let set = try await json(schema, ["applications", "set", "cust_42", "--retention", "none", "--name", "Acme"])
        #expect(set["retention_days"] is NSNull && set["name"] as? String == "Acme")
        let list = try await herald(schema, ["applications", "list"])
        for id in ["default", "_operations", "cust_42"] { #expect(list.stdout.contains(id), "\(list.stdout)") }
        #expect(try await herald(schema, ["applications", "show", "nope"]).status == 1)
        #expect(try await herald(schema, ["applications", "set", "nope", "--name", "x"]).status == 1)
        await conn.close()
    }

    @Test("endpoint headers added without a key are sealed by secrets rotate-key, and still only their names show")
    func rotateKeySealsEndpointHeaders() async throws {
        let (schema, conn) = try await pg.migratedSchema("app")
        let key = ["HERALD_ENCRYPTION_KEY": Data((100..<132).map { UInt8($0) }).base64EncodedString()]
        let id = try await addEndpoint(schema, app: "acme", url: "https://example.com/k", ["--header", "Authorization: Bearer clear-t0ken"])
        let before = try #require(try await conn.query("SELECT headers::text AS h FROM \(unescaped: schema).endpoints WHERE id = \(id)").first?.decode("h", as: String.self))
        #expect(before.contains("clear-t0ken"), "no key: stored in clear, as delivery headers are")
        let rotated = try await herald(schema, ["secrets", "rotate-key"], environment: key)
        #expect(rotated.status == 0, "\(rotated.stderr)")
        let after = try #require(try await conn.query("SELECT headers::text AS h FROM \(unescaped: schema).endpoints WHERE id = \(id)").first?.decode("h", as: String.self))
        #expect(after.contains("(sealed)") && !after.contains("clear-t0ken"), "\(after)")
        let shown = try await json(schema, ["endpoints", "show", String(id)], environment: key)
        #expect(shown["header_names"] as? [String] == ["Authorization"])
        await conn.close()
    }

    @Test("WebhookQueue.publish in the caller's transaction: rolled back, nothing stays; invalid input is invalidInput")
    func swiftPublish() async throws {
        let (schema, conn) = try await pg.migratedSchema("app")
        _ = try await addEndpoint(schema, app: "acme", url: "https://example.com/p")
        let queue = WebhookQueue(schema: try SchemaName(schema))
        struct Rollback: Error {}
        await #expect(throws: Rollback.self) {
            try await conn.withTransaction { tx -> Int in
                let outcome = try await queue.publish(PublishRequest(application: "acme", eventType: "t.x", payload: Array("{}".utf8)), on: tx)
                #expect(outcome.queued == 1 && !outcome.duplicate)
                throw Rollback()
            }
        }
        #expect(try await count(conn, schema, "messages") == 0, "the message exists only if the transaction commits")
        let outcome = try await queue.publish(
            PublishRequest(application: "acme", eventType: "t.x", payload: Array("{}".utf8), eventID: "e1", channels: ["eu"]), on: conn)
        #expect(outcome.queued == 1)
        let again = try await queue.publish(PublishRequest(application: "acme", eventType: "t.x", payload: [], eventID: "e1"), on: conn)
        #expect(again == PublishOutcome(messageID: outcome.messageID, duplicate: true, queued: 0))
        do {
            _ = try await queue.publish(PublishRequest(application: "acme", eventType: "not a type", payload: []), on: conn)
            Issue.record("an invalid type was accepted")
        } catch let error as HeraldError {
            #expect(error.code == .invalidInput, "\(error)")
        }
        await conn.close()
    }
}
