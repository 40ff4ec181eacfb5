import Foundation
import HeraldTestSupport
import Logging
import PGDriver
import Testing

@testable import Herald

/// The attempt journal shared by a worker's slots, against a real PostgreSQL.
@Suite("Attempt journal")
struct AttemptJournalTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    @Test("many slots abandoning rounds at once: every abandoned row is settled, none twice, none dropped, no crash")
    func concurrentAbandons() async throws {
        let (schema, conn) = try await pg.migratedSchema("jrnl")
        try await conn.enqueueMany(schema: schema, url: "https://example.com/j", count: 64)
        // One journal row per delivery, outcome unknown, as a round writes them before its sends.
        let ids = try await conn.query(
            """
            INSERT INTO \(unescaped: schema).attempts (delivery_id, attempt, worker_id, started_at, outcome)
            SELECT id, 1, 'w', now(), 'unknown' FROM \(unescaped: schema).deliveries RETURNING id
            """
        ).rows.map { try $0.decode("id", as: Int64.self) }
        #expect(ids.count == 64)
        let journal = AttemptJournal(
            connectionString: pg.url, store: DeliveryStore(schema: try SchemaName(schema)), contact: DatabaseContact(),
            logger: Logger(label: "test"))
        // 64 slots' rounds failing at the same moment: half had begun their send, half had not.
        await withTaskGroup(of: Void.self) { group in
            for (n, id) in ids.enumerated() {
                group.addTask {
                    if n % 2 == 0 {
                        await journal.abandon(began: [id], neverBegan: [], reason: "lease ended")
                    } else {
                        await journal.abandon(began: [], neverBegan: [id], reason: "lease ended")
                    }
                }
            }
        }
        // Whatever a concurrent call left queued is settled by the next one (every slot calls it before a lease).
        try await Wait.until("every abandoned row settled", timeout: .seconds(10)) {
            await journal.settlePending()
            return try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).attempts WHERE outcome = 'unknown'") == 0
        }
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).attempts WHERE outcome = 'interrupted'") == 32)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).attempts") == 32, "the never-begun rows are gone")
        await journal.close()
        await conn.close()
    }
}
