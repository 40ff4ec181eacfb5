import Foundation
import Herald
import HeraldTestSupport
import PGDriver
import Testing

/// The operator's command line against a real database, checking what each command prints and changes.
@Suite("Operator commands")
struct OperatorCommandsTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    func herald(_ schema: String, _ arguments: [String]) async throws -> HeraldBinary.Result {
        try await HeraldBinary.run(arguments + ["--schema", schema], environment: ["DATABASE_URL": pg.url])
    }

    @Test("endpoints: add, list, show, disable, enable, rotate-secret (old and new secrets both sign)")
    func endpoints() async throws {
        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema("op")
        let url = receiver.url("/ep")
        let added = try await herald(schema, ["endpoints", "add", "--url", url])
        #expect(added.status == 0, "\(added.stderr)")
        let secretLine = try #require(added.stdout.split(separator: "\n").first { $0.hasPrefix("secret") })
        let firstSecret = String(secretLine.split(separator: " ").last!)
        #expect(firstSecret.hasPrefix("whsec_"))
        let again = try await herald(schema, ["endpoints", "add", "--url", url])
        #expect(again.status == 1 && again.stderr.contains("already exists"))
        let badURL = try await herald(schema, ["endpoints", "add", "--url", "gopher://x"])
        #expect(badURL.status == 64 && badURL.stderr.contains("invalid --url"), "invalid arguments exit 64: \(badURL.stderr)")
        let list = try await herald(schema, ["endpoints", "list"])
        #expect(list.stdout.contains(url))
        let shown = try await herald(schema, ["endpoints", "show", url])
        #expect(shown.stdout.contains("enabled      yes"))
        #expect(!shown.stdout.contains("whsec_"), "the secret is shown only on request")
        #expect(try await herald(schema, ["endpoints", "show", url, "--show-secret"]).stdout.contains(firstSecret))
        #expect(try await herald(schema, ["endpoints", "disable", url, "--reason", "maintenance"]).status == 0)
        #expect(try await herald(schema, ["endpoints", "show", url]).stdout.contains("no: maintenance"))
        #expect(try await herald(schema, ["endpoints", "enable", url]).status == 0)
        let rotated = try await herald(schema, ["endpoints", "rotate-secret", url, "--grace", "1h"])
        #expect(rotated.status == 0)
        let newSecret = String(try #require(rotated.stdout.split(separator: "\n").first { $0.hasPrefix("secret") }).split(separator: " ").last!)
        #expect(newSecret != firstSecret)
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(url), '\\x7b7d'::bytea)")
        let worker = try HeraldProcess.worker(pg, schema: schema)
        try await Wait.until("the delivery") { receiver.requests(path: "/ep").count == 1 }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        let request = receiver.requests(path: "/ep")[0]
        let timestamp = try #require(Int(request.headers["webhook-timestamp"] ?? ""))
        let expected = [newSecret, firstSecret].map {
            WebhookSigner.signature(id: request.key, timestamp: timestamp, body: request.body, secret: try! WebhookSecret($0))
        }
        #expect(request.headers["webhook-signature"] == expected.joined(separator: " "))
        #expect(try await herald(schema, ["endpoints", "show", "999999"]).stderr.contains("no endpoint"))
        await receiver.stop()
        await conn.close()
    }

    @Test("deliveries list/show/replay/cancel, status, and the audit views tell one story")
    func deliveries() async throws {
        let receiver = try await TestReceiver.start { request, _ in request.path == "/bad" ? .status(422, body: "unprocessable") : .status(200) }
        let (schema, conn) = try await pg.migratedSchema("op")
        let bad = try #require(try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/bad")), '\\x7b7d'::bytea, 'order.created', 'evt-bad') AS id").first?.decode("id", as: Int64.self))
        let good = try #require(try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/good")), '\\x7b7d'::bytea, 'order.created', 'evt-good') AS id").first?.decode("id", as: Int64.self))
        let worker = try HeraldProcess.worker(pg, schema: schema)
        try await Wait.until("both settled") {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state <> 'pending'") == 2
        }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        let list = try await herald(schema, ["deliveries", "list", "--state", "failed"])
        #expect(list.status == 0)
        #expect(list.stdout.contains(receiver.url("/bad")))
        #expect(!list.stdout.contains(receiver.url("/good")))
        let json = try await herald(schema, ["deliveries", "list", "--json", "--endpoint", receiver.url("/good")])
        #expect(json.stdout.contains("\"state\" : \"delivered\""))
        let shown = try await herald(schema, ["deliveries", "show", String(bad)])
        #expect(shown.stdout.contains("attempt 1: failed, HTTP 422"))
        #expect(shown.stdout.contains("ended failed: HTTP 422"))
        let status = try await herald(schema, ["status"])
        #expect(status.stdout.contains("delivered 1"))
        #expect(status.stdout.contains("failed 1"))
        let statusJSON = try await herald(schema, ["status", "--json"])
        #expect(statusJSON.stdout.contains("\"failed\" : 1"))
        // The audit view answers "what happened to event X?" in one query.
        let timeline = try await conn.query("SELECT what, status_code FROM \(unescaped: schema).delivery_timeline WHERE event_id = 'evt-bad' ORDER BY at, what DESC")
        #expect(try timeline.rows.map { try $0.decode("what", as: String.self) } == ["enqueued", "attempt: failed", "ended: failed"])
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).dead_letters") == 1)
        #expect(try await conn.count("SELECT attempts_1h::int AS n FROM \(unescaped: schema).endpoint_health WHERE url = \(receiver.url("/good"))") == 1)
        // Replay: back to pending, fresh budget, same key.
        let key = try await conn.query("SELECT idempotency_key FROM \(unescaped: schema).deliveries WHERE id = \(bad)").first?.decode("idempotency_key", as: String.self)
        let replayed = try await herald(schema, ["deliveries", "replay", "--state", "failed"])
        #expect(replayed.stdout.contains("replayed 1 delivery"))
        let row = try #require(try await conn.query("SELECT state, attempts, idempotency_key FROM \(unescaped: schema).deliveries WHERE id = \(bad)").first)
        #expect(try row.decode("state", as: String.self) == "pending")
        #expect(try row.decode("attempts", as: Int.self) == 0)
        #expect(try row.decode("idempotency_key", as: String.self) == key)
        let notReplayed = try await herald(schema, ["deliveries", "replay", String(good)])
        #expect(notReplayed.stdout.contains("replayed 0 deliveries"), "delivered ones are not replayed")
        #expect(notReplayed.stdout.contains("skipped \(good): delivered"), "and the skip says why: \(notReplayed.stdout)")
        let cancelled = try await herald(schema, ["deliveries", "cancel", String(bad)])
        #expect(cancelled.stdout.contains("cancelled 1 delivery"))
        #expect(try await conn.query("SELECT state FROM \(unescaped: schema).deliveries WHERE id = \(bad)").first?.decode("state", as: String.self) == "cancelled")
        #expect(try await herald(schema, ["deliveries", "show", "424242"]).stderr.contains("no delivery 424242"))
        #expect(try await herald(schema, ["deliveries", "list", "--state", "bogus"]).status == 64)
        await receiver.stop()
        await conn.close()
    }

    @Test("prune deletes old finished deliveries and their attempts in batches, and nothing else")
    func prune() async throws {
        let (schema, conn) = try await pg.migratedSchema("op")
        try await conn.query("SELECT \(unescaped: schema).enqueue('https://example.com/p', '\\x7b7d'::bytea) FROM generate_series(1, 25)")
        // 20 finished long ago (with an attempt each), 5 still pending.
        try await conn.query(
            "UPDATE \(unescaped: schema).deliveries SET state = 'delivered', attempts = 1, finished_at = now() - interval '40 days' WHERE id IN (SELECT id FROM \(unescaped: schema).deliveries ORDER BY id LIMIT 20)")
        try await conn.query(
            "INSERT INTO \(unescaped: schema).attempts (delivery_id, attempt, worker_id, started_at, outcome) SELECT id, 1, 'w', now() - interval '40 days', 'delivered' FROM \(unescaped: schema).deliveries WHERE state = 'delivered'")
        let result = try await herald(schema, ["prune", "--older-than", "30d", "--batch-size", "7"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("pruned 20 deliveries"))
        #expect(try await herald(schema, ["prune", "--older-than", "30"]).status == 64, "a bare number is refused")
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries") == 5)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).attempts") == 0)
        #expect(try await herald(schema, ["prune", "--older-than", "soon"]).status == 64)
        await conn.close()
    }
}
