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

    @Test("a settlement the database refuses is given up after a few tries; the ones queued behind it are settled")
    func refusedSettlementIsGivenUp() async throws {
        let (schema, conn) = try await pg.migratedSchema("jrnl")
        try await conn.enqueueMany(schema: schema, url: "https://example.com/j", count: 2)
        let ids = try await conn.query(
            """
            INSERT INTO \(unescaped: schema).attempts (delivery_id, attempt, worker_id, started_at, outcome)
            SELECT id, 1, 'w', now(), 'unknown' FROM \(unescaped: schema).deliveries ORDER BY id RETURNING id
            """
        ).rows.map { try $0.decode("id", as: Int64.self) }
        try #require(ids.count == 2)
        // A trigger refuses to settle the first round's row, as a permission or a constraint would, every time.
        try await conn.query(PGQuery(sql: """
            CREATE FUNCTION \(schema).refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.id = \(ids[0]) THEN RAISE EXCEPTION 'settlement refused by a test trigger'; END IF; RETURN NEW; END $$
            """))
        try await conn.query(PGQuery(sql: "CREATE TRIGGER refuse BEFORE UPDATE ON \(schema).attempts FOR EACH ROW EXECUTE FUNCTION \(schema).refuse()"))
        let logs = CapturedLogs()
        let journal = AttemptJournal(
            connectionString: pg.url, store: DeliveryStore(schema: try SchemaName(schema)), contact: DatabaseContact(),
            logger: Logger(label: "test") { _ in CapturingLogHandler(store: logs) })
        await journal.abandon(began: [ids[0]], neverBegan: [], reason: "lease ended")
        await journal.abandon(began: [ids[1]], neverBegan: [], reason: "lease ended")
        // One try a second (every slot asks before each lease): the refused one is given up after
        // refusalsBeforeGivingUp of them, and the second round's row is settled after it.
        try await Wait.until("the second round's row settled behind the refused one", timeout: .seconds(20)) {
            await journal.settlePending()
            return try await conn.count(
                "SELECT count(*)::int AS n FROM \(unescaped: schema).attempts WHERE id = \(ids[1]) AND outcome = 'interrupted'") == 1
        }
        #expect(
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).attempts WHERE id = \(ids[0]) AND outcome = 'unknown'") == 1,
            "the refused row keeps the conservative reading")
        let gaveUp = logs.messages.filter { $0.level == .error && $0.message.contains("gave up settling") }
        #expect(gaveUp.count == 1, "\(logs.messages.map(\.message))")
        #expect(gaveUp.first?.metadata["error"]?.contains("settlement refused by a test trigger") == true)
        await journal.close()
        await conn.close()
    }
}
