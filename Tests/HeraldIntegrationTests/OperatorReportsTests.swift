import Foundation
import Herald
import HeraldTestSupport
import PGDriver
import Testing

/// What operator commands report back: every id accounted for, history kept, big deletions confirmed.
@Suite("Operator reports")
struct OperatorReportsTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    func herald(_ schema: String, _ arguments: [String]) async throws -> HeraldBinary.Result {
        try await HeraldBinary.run(arguments + ["--schema", schema], environment: ["DATABASE_URL": pg.url])
    }

    /// Queues `count` deliveries to a URL nothing listens on and returns their ids.
    func enqueue(_ count: Int, schema: String, on conn: PGConnection) async throws -> [Int64] {
        try await conn.query(
            "SELECT \(unescaped: schema).enqueue('https://example.com/r', '\\x7b7d'::bytea) AS id FROM generate_series(1, \(count)) ORDER BY 1"
        ).rows.map { try $0.decode("id") }
    }

    @Test("replay and cancel name unknown ids (exit 1) and skipped ids with the reason; --json has every key")
    func unknownAndSkipped() async throws {
        let (schema, conn) = try await pg.migratedSchema("rep")
        let ids = try await enqueue(2, schema: schema, on: conn)
        try await conn.query("UPDATE \(unescaped: schema).deliveries SET state = 'delivered', finished_at = now() WHERE id = \(ids[1])")

        let unknown = try await herald(schema, ["deliveries", "replay", "999999"])
        #expect(unknown.status == 1, "unknown ids exit 1, as the help says")
        #expect(unknown.stderr.contains("no delivery 999999"), "\(unknown.stderr)")
        let unknownCancel = try await herald(schema, ["deliveries", "cancel", "999999", String(ids[0])])
        #expect(unknownCancel.status == 1)
        #expect(unknownCancel.stdout.contains("cancelled 1 delivery"), "the known id is still cancelled: \(unknownCancel.stdout)")
        #expect(unknownCancel.stderr.contains("no delivery 999999"))

        let skipped = try await herald(schema, ["deliveries", "cancel", String(ids[1])])
        #expect(skipped.status == 0)
        #expect(skipped.stdout.contains("skipped \(ids[1]): already ended (delivered)"), "\(skipped.stdout)")
        let pending = try await herald(schema, ["deliveries", "replay", String(ids[1]), "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(pending.stdout.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["changed", "not_found", "skipped"])
        let skip = try #require((object["skipped"] as? [[String: Any]])?.first)
        #expect(skip["id"] as? Int == Int(ids[1]))
        #expect((skip["reason"] as? String)?.contains("only failed, dead or cancelled") == true)

        #expect(try await herald(schema, ["deliveries", "replay", "--state", "pending"]).status == 64, "--state that does nothing is refused")
        #expect(try await herald(schema, ["deliveries", "cancel", "--state", "delivered", "--endpoint", "1"]).status == 64)
        await conn.close()
    }

    @Test("a replay keeps the earlier end in the timeline and records replay and cancel as events")
    func timelineKeepsHistory() async throws {
        let (schema, conn) = try await pg.migratedSchema("rep")
        let id = try #require(try await enqueue(1, schema: schema, on: conn).first)
        #expect(try await herald(schema, ["deliveries", "cancel", String(id)]).status == 0)
        #expect(try await herald(schema, ["deliveries", "replay", String(id)]).status == 0)
        #expect(try await herald(schema, ["deliveries", "cancel", String(id)]).status == 0)
        let whats = try await conn.query(
            "SELECT what FROM \(unescaped: schema).delivery_timeline WHERE delivery_id = \(id) ORDER BY at, what"
        ).rows.map { try $0.decode("what", as: String.self) }
        #expect(whats.filter { $0 == "ended: cancelled" }.count == 2, "the end before the replay is kept: \(whats)")
        #expect(whats.contains("replayed by operator (was cancelled)"), "\(whats)")
        #expect(whats.filter { $0 == "cancelled by operator (was pending)" }.count == 2, "\(whats)")
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).delivery_events WHERE delivery_id = \(id)") == 3)
        await conn.close()
    }

    @Test("prune --dry-run counts and deletes nothing; on a terminal a prune of most rows asks for --yes")
    func pruneDryRunAndConfirmation() async throws {
        let (schema, conn) = try await pg.migratedSchema("rep")
        let ids = try await enqueue(4, schema: schema, on: conn)
        try await conn.query(
            "UPDATE \(unescaped: schema).deliveries SET state = 'delivered', finished_at = now() - interval '40 days' WHERE id <> \(ids[3])")
        try await conn.query(
            "INSERT INTO \(unescaped: schema).circuit_breaker_events (breaker_key, from_state, to_state, reason, created_at) VALUES ('k', 'closed', 'open', 'test', now() - interval '40 days')")
        let dry = try await herald(schema, ["prune", "--older-than", "30d", "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("would prune 3 of 4 deliveries"), "\(dry.stdout)")
        #expect(dry.stdout.contains("would prune 1 breaker event"), "\(dry.stdout)")
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries") == 4)

        // On a terminal (script(1) gives herald a pseudo-terminal): 3 of 4 is more than half.
        let herald = try HeraldBinary.path()
        let command = "DATABASE_URL='\(pg.url)' \(herald) prune --older-than 30d --schema \(schema)"
        let asked = try Shell.run("/usr/bin/script", ["-qec", command, "/dev/null"])
        #expect(asked.status == 1, "\(asked.output)")
        #expect(asked.output.contains("--yes"), "\(asked.output)")
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries") == 4, "nothing deleted")
        let confirmed = try Shell.run("/usr/bin/script", ["-qec", command + " --yes", "/dev/null"])
        #expect(confirmed.status == 0, "\(confirmed.output)")
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries") == 1)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).circuit_breaker_events") == 0, "breaker history is pruned too")
        await conn.close()
    }

    @Test("rotate-secret refuses a grace of 0s or 1000d (exit 64) and keeps the secret")
    func rotateGrace() async throws {
        let (schema, conn) = try await pg.migratedSchema("rep")
        #expect(try await herald(schema, ["endpoints", "add", "--url", "https://example.com/g"]).status == 0)
        let before = try await conn.query("SELECT secret FROM \(unescaped: schema).endpoints").first?.decode("secret", as: String.self)
        for grace in ["0s", "1000d", "30"] {
            let result = try await herald(schema, ["endpoints", "rotate-secret", "https://example.com/g", "--grace", grace])
            #expect(result.status == 64, "\(grace): \(result.stderr)")
        }
        #expect(try await conn.query("SELECT secret FROM \(unescaped: schema).endpoints").first?.decode("secret", as: String.self) == before)
        #expect(try await herald(schema, ["endpoints", "rotate-secret", "https://example.com/g", "--grace", "1h30m"]).status == 0)
        await conn.close()
    }

    @Test("show: an interrupted attempt reads 'outcome unknown', and the next attempt shows the interrupted-send wait")
    func showInterrupted() async throws {
        let (schema, conn) = try await pg.migratedSchema("rep")
        let id = try #require(try await enqueue(1, schema: schema, on: conn).first)
        try await conn.query(
            "INSERT INTO \(unescaped: schema).attempts (delivery_id, attempt, worker_id, started_at, outcome) VALUES (\(id), 1, 'w1', '2030-01-01T00:00:00Z', 'unknown')")
        try await conn.query("UPDATE \(unescaped: schema).deliveries SET next_attempt_at = '2030-01-01T00:00:05Z' WHERE id = \(id)")
        let shown = try await herald(schema, ["deliveries", "show", String(id)])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(shown.stdout.contains("attempt 1: outcome unknown (interrupted"), "\(shown.stdout)")
        #expect(!shown.stdout.contains("0 ms"), "\(shown.stdout)")
        #expect(shown.stdout.contains("next attempt at 2030-01-01T00:00:25Z"), "request timeout + 10 s after the send: \(shown.stdout)")
        await conn.close()
    }

    @Test("list says 'no deliveries' when empty, 'showing N of M' when cut, and truncates long URLs with an ellipsis")
    func listOutput() async throws {
        let (schema, conn) = try await pg.migratedSchema("rep")
        #expect(try await herald(schema, ["deliveries", "list"]).stdout == "no deliveries\n")
        let long = "https://example.com/" + String(repeating: "a", count: 100)
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(long), '\\x7b7d'::bytea) FROM generate_series(1, 3)")
        let cut = try await herald(schema, ["deliveries", "list", "--limit", "2"])
        #expect(cut.stdout.contains("showing 2 of 3 deliveries; use --limit"), "\(cut.stdout)")
        #expect(!cut.stdout.contains(long) && cut.stdout.contains("…"), "\(cut.stdout)")
        #expect(!(try await herald(schema, ["deliveries", "list"])).stdout.contains("showing"), "not cut, no note")
        // Past 1,000 matches the count stops (a kept history of millions is not read for one hint line) …
        try await conn.query("SELECT \(unescaped: schema).enqueue('https://example.com/many', '\\x7b7d'::bytea) FROM generate_series(1, 1000)")
        let many = try await herald(schema, ["deliveries", "list", "--limit", "5"])
        #expect(many.stdout.contains("showing 5 of more than 1000 deliveries"), "\(many.stdout)")
        // … or twice the page, when the page is larger than 500.
        let large = try await herald(schema, ["deliveries", "list", "--limit", "600"])
        #expect(large.stdout.contains("showing 600 of 1003 deliveries"), "\(large.stdout)")
        await conn.close()
    }
}
