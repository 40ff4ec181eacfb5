import Foundation
import HeraldTestSupport
import PGDriver
import Testing

@testable import Herald

/// endpoint_health from per-minute counts (migration 0021): its cost must not grow with the last hour's
/// traffic, and it must say what the attempts say.
@Suite("Endpoint health from per-minute counts")
struct EndpointHealthTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    @Test("written counts add up; the view's p95 interpolates the histogram; minutes past the hour are left out; prune keeps a day")
    func viewFromCounts() async throws {
        let (schema, conn) = try await pg.migratedSchema("emin")
        let name = try SchemaName(schema)
        let id = try await conn.count("SELECT \(unescaped: schema).enqueue('https://example.com/em', '{}'::bytea)::int AS n")
        let endpoint = Int64(try await conn.count("SELECT endpoint_id::int AS n FROM \(unescaped: schema).deliveries WHERE id = \(id)"))
        let store = EndpointMinutesStore(schema: name)
        let now = Date()
        var first = EndpointMinutes()
        for _ in 0..<30 { first.record(endpointID: endpoint, at: now, delivered: true, durationMilliseconds: 40) }
        var second = EndpointMinutes()
        for _ in 0..<8 { second.record(endpointID: endpoint, at: now, delivered: true, durationMilliseconds: 40) }
        for _ in 0..<2 { second.record(endpointID: endpoint, at: now, delivered: false, durationMilliseconds: 3000) }
        // Outside the view's hour, and outside the kept day.
        second.record(endpointID: endpoint, at: now.addingTimeInterval(-2 * 3600), delivered: false, durationMilliseconds: 9)
        second.record(endpointID: endpoint, at: now.addingTimeInterval(-2 * 86400), delivered: false, durationMilliseconds: 9)
        try await conn.query(store.addQuery(first))
        try await conn.query(store.addQuery(second))  // adds to the row the first wrote

        let row = try #require(try await conn.query(
            "SELECT attempts_1h::int AS n, success_pct_1h::float8 AS pct, p95_ms_1h AS p95 FROM \(unescaped: schema).endpoint_health WHERE endpoint_id = \(endpoint)").first)
        #expect(try row.decode("n", as: Int.self) == 40)
        #expect(try row.decode("pct", as: Double.self) == 95.0)
        // 38 of 40 in [25, 50) ms: the 38th of 38 is at the bucket's top.
        #expect(try row.decode("p95", as: Double.self) == 50.0)
        let p99 = try await conn.query("SELECT \(unescaped: schema).duration_quantile('{0,0,38,0,0,0,0,0,2,0,0,0}', 0.99) AS q").first?.decode("q", as: Double.self)
        // 0.99 × 40 = 39.6: 1.6 of the bucket's 2 sends past the 38 below it, 80% into [2500, 5000) ms.
        #expect(abs((p99 ?? 0) - 4500) < 0.001, "interpolated: \(String(describing: p99))")
        let open = try await conn.query("SELECT \(unescaped: schema).duration_quantile('{0,0,0,0,0,0,0,0,0,0,0,3}', 0.5) AS q").first?.decode("q", as: Double.self)
        #expect(open == 30000, "the open bucket reports its lower edge")
        let none = try await conn.query("SELECT \(unescaped: schema).duration_quantile('{0,0,0,0,0,0,0,0,0,0,0,0}', 0.5) AS q").first?.decode("q", as: Double?.self)
        #expect(none == nil)

        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).endpoint_minutes") == 3)
        try await conn.query(store.pruneQuery)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).endpoint_minutes") == 2, "the row of two days ago went")
        await conn.close()
    }

    @Test("Swift's bucket of a duration is PostgreSQL's width_bucket over the same edges")
    func bucketsAgree() async throws {
        let conn = try await pg.connect()
        let samples = [0, 9, 10, 11, 24, 25, 49, 50, 99, 100, 249, 250, 499, 500, 999, 1000, 2499, 2500, 4999, 5000, 9999, 10000, 29999, 30000, 600000]
        let edges = "{" + EndpointMinutes.edges.map(String.init).joined(separator: ",") + "}"
        for ms in samples {
            let sql = try await conn.count("SELECT width_bucket(\(ms)::int, \(edges)::int[]) AS n")
            #expect(sql == EndpointMinutes.bucket(milliseconds: ms), "\(ms) ms")
        }
        await conn.close()
    }

    @Test("the migration's backfill counts the last hour's attempts per endpoint and minute, like a worker would")
    func backfill() async throws {
        let (schema, conn) = try await pg.migratedSchema("efill")
        try await conn.query("SELECT \(unescaped: schema).enqueue('https://example.com/fill', '{}'::bytea) FROM generate_series(1, 3)")
        try await conn.query(
            """
            INSERT INTO \(unescaped: schema).attempts (delivery_id, attempt, worker_id, started_at, duration_ms, status_code, outcome, retryable)
            SELECT d.id, 1, 'w', date_trunc('minute', now()) - interval '5 minutes' + interval '10 seconds', x.ms, 200, x.outcome, false
            FROM \(unescaped: schema).deliveries d, (VALUES (40, 'delivered'), (3000, 'retry'), (5, 'unknown')) AS x (ms, outcome)
            """)
        // The INSERT of migrations/0021, run again on this schema.
        let file = try String(contentsOfFile: "migrations/0021_endpoint_minutes.sql", encoding: .utf8)
        let start = try #require(file.range(of: "INSERT INTO endpoint_minutes"))
        let end = try #require(file.range(of: "DO NOTHING;", range: start.upperBound..<file.endIndex))
        try await conn.query("SET search_path TO \(unescaped: schema)")
        try await conn.query(PGQuery(sql: String(file[start.lowerBound..<end.upperBound])))
        let rows = try await conn.query("SELECT attempts, delivered, durations::text AS d FROM endpoint_minutes").rows
        #expect(rows.count == 1, "one endpoint, one minute")
        #expect(try rows.first?.decode("attempts", as: Int.self) == 6, "3 deliveries × (delivered, retry); unknown sends are not results")
        #expect(try rows.first?.decode("delivered", as: Int.self) == 3)
        #expect(try rows.first?.decode("d", as: String.self) == "{0,0,3,0,0,0,0,0,3,0,0,0}")
        await conn.close()
    }

    @Test("a running worker's sends reach endpoint_health within a sample interval")
    func workerWrites() async throws {
        let (schema, conn) = try await pg.migratedSchema("elive")
        let receiver = try await TestReceiver.start { request, _ in request.path == "/bad" ? .status(500) : .status(200) }
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/ok")), '{}'::bytea) FROM generate_series(1, 3)")
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/bad")), '{}'::bytea)")
        let worker = try HeraldProcess.worker(pg, schema: schema, ["--sample-interval", "200ms", "--max-attempts", "1"])
        try await Wait.until("4 sends counted in endpoint_health while the worker runs", timeout: .seconds(20)) {
            try await conn.count("SELECT coalesce(sum(attempts_1h), 0)::int AS n FROM \(unescaped: schema).endpoint_health") == 4
        }
        #expect(try await conn.count(
            "SELECT success_pct_1h::int AS n FROM \(unescaped: schema).endpoint_health WHERE url = \(receiver.url("/ok"))") == 100)
        #expect(try await conn.count(
            "SELECT success_pct_1h::int AS n FROM \(unescaped: schema).endpoint_health WHERE url = \(receiver.url("/bad"))") == 0)
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit(timeout: .seconds(20))
        #expect(try await conn.count("SELECT coalesce(sum(attempts_1h), 0)::int AS n FROM \(unescaped: schema).endpoint_health") == 4, "no count written twice")
        await conn.close()
        await receiver.stop()
    }
}
