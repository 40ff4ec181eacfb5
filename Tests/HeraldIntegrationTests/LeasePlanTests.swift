import Foundation
@testable import Herald
import HeraldTestSupport
import PGDriver
import Testing

/// The lease's functions plan once per session (migrations/0032); a plan made while the queue was small must
/// not scan `deliveries` or `attempts` sequentially once they have grown, which a cached plan would keep
/// doing until ANALYZE (docs/benchmarks.md).
@Suite("Lease: plans made on a small queue read by index")
struct LeasePlanTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    @Test("after eight rounds on ten deliveries, a lease, its row read and a completion scan neither deliveries nor attempts")
    func noSequentialScans() async throws {
        let (schema, conn) = try await pg.migratedSchema("leaseplan")
        // No ANALYZE between the leases and the check: the plans are the ones made on the small table.
        try await conn.query("ALTER TABLE \(unescaped: schema).deliveries SET (autovacuum_enabled = off)")
        try await conn.query("ALTER TABLE \(unescaped: schema).attempts SET (autovacuum_enabled = off)")
        for n in 0..<10 {
            try await conn.query("SELECT \(unescaped: schema).enqueue(\("https://plan\(n % 3).example/h"), '\\x7b7d'::bytea)")
        }
        let settings = WorkerConfiguration(connectionString: "", schema: try SchemaName(schema)).leaseSettings
        let store = DeliveryStore(schema: try SchemaName(schema))
        // A round's completion as the worker sends it (delivery_complete, migrations/0033): one delivery stays
        // pending, no attempt row.
        let complete: PGQuery = """
            SELECT * FROM \(unescaped: schema).delivery_complete('[{"delivery_id": 2, "state": "pending", "log_attempt": false}]'::jsonb)
            """
        // Past the plan cache's five custom plans: with the default plan_cache_mode some statements had
        // settled on a generic plan by then, a sequential scan of the ten rows.
        for _ in 0..<8 {
            try await conn.query("BEGIN")
            let leased = try await conn.query(store.leaseQuery(settings, held: [1])).rows
            #expect(try leased.contains { try $0.decode("id", as: Int64?.self) != nil })
            try await conn.query(complete)
            try await conn.query("ROLLBACK")
        }
        try await conn.query("BEGIN")
        _ = try await conn.query(store.leaseQuery(settings, held: [1]))
        let completed = try await conn.query(complete)
        #expect(try completed.rows.first?.decode("updated_count", as: Int.self) == 1)
        // This transaction's own counts, not yet reported to the statistics.
        let scans = try await conn.query(
            """
            SELECT relname, seq_scan FROM pg_stat_xact_user_tables
            WHERE schemaname = \(schema) AND relname IN ('deliveries', 'attempts') ORDER BY relname
            """
        ).rows.map { (try $0.decode("relname", as: String.self), try $0.decode("seq_scan", as: Int.self)) }
        try await conn.query("ROLLBACK")
        #expect(scans.count == 2)
        for (table, count) in scans {
            #expect(count == 0, "the lease scanned \(table) sequentially \(count) times with plans made on a small queue")
        }
        await conn.close()
    }
}
