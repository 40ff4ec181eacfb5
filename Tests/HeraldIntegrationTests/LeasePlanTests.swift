import Foundation
@testable import Herald
import HeraldTestSupport
import PGDriver
import Testing

/// The lease's functions plan once per session (migrations/0032); a plan made while the queue was small must
/// not scan `deliveries` or `attempts`, nor walk a whole index of them, once they have grown, which a cached
/// plan would keep doing until ANALYZE (docs/benchmarks.md, "Revisited 2026-12-05").
@Suite("Lease: plans made on a small queue read by index")
struct LeasePlanTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    @Test("plans made on ten deliveries: after 20,000 more arrive, a round reads tens of rows, never scans")
    func plansMadeSmallStayBounded() async throws {
        let (schema, conn) = try await pg.migratedSchema("leaseplan")
        // No ANALYZE between the rounds and the check: the plans are the ones made on the small tables.
        try await conn.query("ALTER TABLE \(unescaped: schema).deliveries SET (autovacuum_enabled = off)")
        try await conn.query("ALTER TABLE \(unescaped: schema).attempts SET (autovacuum_enabled = off)")
        for n in 0..<10 {
            try await conn.query("SELECT \(unescaped: schema).enqueue(\("https://plan\(n % 3).example/h"), '\\x7b7d'::bytea)")
        }
        let ids = try await conn.query("SELECT id FROM \(unescaped: schema).deliveries ORDER BY id").rows
            .map { try $0.decode("id", as: Int64.self) }
        // An attempt row as the journal writes it before a send, so that the completion also updates one.
        let attemptID = try await conn.query(
            """
            INSERT INTO \(unescaped: schema).attempts (delivery_id, attempt, worker_id, started_at, outcome)
            VALUES (\(ids[2]), 1, 'w', now(), 'unknown') RETURNING id
            """
        ).rows[0].decode("id", as: Int64.self)
        let settings = WorkerConfiguration(connectionString: "", schema: try SchemaName(schema)).leaseSettings
        let store = DeliveryStore(schema: try SchemaName(schema))
        // A round's completion as the worker sends it: one delivery stays pending with no attempt, one is
        // delivered and its attempt row gets its outcome. (Planned on every call, not once per session: it is
        // checked here all the same.)
        let completions = [
            Completion(
                deliveryID: ids[1], attempt: 1, state: .pending, attempts: nil, nextAttemptAt: nil, statusCode: nil, error: nil,
                startedAt: Date(), durationMilliseconds: 0, requestHeaders: [:], responseExcerpt: nil, retryable: false,
                outcome: .retry, workerID: "w", logAttempt: false, attemptID: nil, interrupted: nil),
            Completion(
                deliveryID: ids[2], attempt: 1, state: .delivered, attempts: 1, nextAttemptAt: nil, statusCode: 200, error: nil,
                startedAt: Date(), durationMilliseconds: 5, requestHeaders: [:], responseExcerpt: nil, retryable: false,
                outcome: .delivered, workerID: "w", logAttempt: true, attemptID: attemptID, interrupted: nil),
        ]
        let complete = store.completeQuery(completions)
        func round() async throws -> (leased: Int, completed: Int) {
            let leased = try await conn.query(store.leaseQuery(settings, held: [ids[0]])).rows
                .filter { try $0.decode("id", as: Int64?.self) != nil }.count
            let completed = try await conn.query(complete).rows[0].decode("updated", as: Int.self)
            return (leased, completed)
        }
        // Past the plan cache's five custom plans: with the default plan_cache_mode some statements had
        // settled on a generic plan by then, a sequential scan of the ten rows.
        for _ in 0..<8 {
            try await conn.query("BEGIN")
            let (leased, completed) = try await round()
            #expect(leased > 0 && completed == 2)
            try await conn.query("ROLLBACK")
        }
        // The queue grows under the cached plans: 20,000 due deliveries, 20,000 finished attempts. On another
        // connection: a backend's own table counts accumulate until they are reported, at most once a second.
        let other = try await pg.connect()
        try await other.query(
            """
            INSERT INTO \(unescaped: schema).deliveries (endpoint_id, idempotency_key, body, breaker_key, next_attempt_at)
            SELECT e.id, 'grow_' || e.id || '_' || g, '\\x7b7d', 'endpoint:' || e.id, now() - interval '1 minute'
            FROM \(unescaped: schema).endpoints e, generate_series(1, 6667) g
            """)
        try await other.query(
            """
            INSERT INTO \(unescaped: schema).attempts (delivery_id, attempt, worker_id, started_at, outcome)
            SELECT id, 1, 'w', now(), 'retry' FROM \(unescaped: schema).deliveries WHERE idempotency_key LIKE 'grow_%'
            """)
        await other.close()
        // This backend's counts not yet reported (they are reported at a transaction's end, so within one
        // transaction the difference is the round's own).
        let counts: PGQuery = """
            SELECT relname, seq_scan, coalesce(idx_tup_fetch, 0) AS fetched FROM pg_stat_xact_user_tables
            WHERE schemaname = \(schema) AND relname IN ('deliveries', 'attempts') ORDER BY relname
            """
        func read() async throws -> [String: (scans: Int, fetched: Int)] {
            var out: [String: (scans: Int, fetched: Int)] = [:]
            for row in try await conn.query(counts).rows {
                out[try row.decode("relname", as: String.self)] = (try row.decode("seq_scan", as: Int.self), try row.decode("fetched", as: Int.self))
            }
            return out
        }
        try await conn.query("BEGIN")
        let before = try await read()
        let (leased, completed) = try await round()
        let after = try await read()
        try await conn.query("ROLLBACK")
        let reads = ["attempts", "deliveries"].map { table in
            (table, (after[table]?.scans ?? 0) - (before[table]?.scans ?? 0), (after[table]?.fetched ?? 0) - (before[table]?.fetched ?? 0))
        }
        // Three keys with a window of 5 each (the default breaker threshold): 15 of the batch of 16.
        #expect(leased == 15)
        #expect(completed == 2)
        for (table, scans, fetched) in reads {
            #expect(scans == 0, "the round scanned \(table) sequentially \(scans) times with plans made on a small queue")
            // A round of 16 reads tens of rows (the batch, its make-up read, its attempts); a plan that walks the
            // due index or an attempts index in full would fetch 20,000.
            #expect(fetched < 1_000, "the round fetched \(fetched) rows of \(table)")
        }
        await conn.close()
    }
}
