import HeraldTestSupport
import PGDriver
import Testing

/// Migration 0033: inserting a delivery no longer locks its endpoint's row (the foreign key's check did, and
/// concurrent producers to one endpoint made a MultiXact of ~4 in 10 enqueues), and endpoint rows are kept:
/// a DELETE or TRUNCATE by hand is refused with what to do instead.
@Suite("Endpoint rows: enqueue and publish leave them unlocked; they are never deleted")
struct EndpointRowLockTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    /// Whether another session can lock endpoint `id` FOR UPDATE at once (the lock that a key-share lock
    /// of an open enqueue would refuse).
    private func lockableAtOnce(_ id: Int64, schema: String, from other: PGConnection) async throws -> Bool {
        try await other.query(PGQuery(sql: "BEGIN"))
        do {
            try await other.query("SELECT id FROM \(unescaped: schema).endpoints WHERE id = \(id) FOR UPDATE NOWAIT")
            try await other.query(PGQuery(sql: "ROLLBACK"))
            return true
        } catch let error as PGError where error.sqlState == "55P03" {
            try await other.query(PGQuery(sql: "ROLLBACK"))
            return false
        }
    }

    @Test("an open transaction that enqueued or published holds no lock on the endpoints' rows")
    func enqueueAndPublishLeaveEndpointsUnlocked() async throws {
        let (schema, producer) = try await pg.migratedSchema("eplock")
        let other = try await pg.connect()
        // The endpoints exist before the transactions under test (the first enqueue creates its endpoint).
        try await producer.query("SELECT \(unescaped: schema).enqueue('https://a.example/h', '\\x7b7d'::bytea)")
        try await producer.query("INSERT INTO \(unescaped: schema).applications (id, name) VALUES ('acme', 'acme')")
        try await producer.query("""
            INSERT INTO \(unescaped: schema).endpoints (application_id, url, secret)
            SELECT 'acme', u, \(unescaped: schema).new_webhook_secret() FROM unnest(ARRAY['https://b.example/h', 'https://c.example/h']) u
            """)
        let ids = try await producer.query("SELECT id FROM \(unescaped: schema).endpoints ORDER BY id").rows.map { try $0.decode("id", as: Int64.self) }
        #expect(ids.count == 3)

        try await producer.query(PGQuery(sql: "BEGIN"))
        let queued = try await producer.query("SELECT \(unescaped: schema).enqueue('https://a.example/h', '\\x7b7d'::bytea) AS id").first?.decode("id", as: Int64.self)
        #expect(queued != nil)
        let fanned = try await producer.query(
            "SELECT queued FROM \(unescaped: schema).publish_with_outcome('acme', 'invoice.paid', convert_to('{}', 'UTF8'))"
        ).first?.decode("queued", as: Int.self)
        #expect(fanned == 2, "one delivery per endpoint of acme")
        for id in ids {
            #expect(try await lockableAtOnce(id, schema: schema, from: other), "endpoint \(id) is locked by the open producer transaction")
        }
        try await producer.query(PGQuery(sql: "COMMIT"))
        let pending = try await producer.query("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'pending'").first?.decode("n", as: Int.self)
        #expect(pending == 4, "the first enqueue, the one under test and the two published")
        await other.close()
        await producer.close()
    }

    @Test("DELETE and TRUNCATE of endpoints are refused with what to do instead, and nothing is removed")
    func endpointRowsAreKept() async throws {
        let (schema, conn) = try await pg.migratedSchema("epkeep")
        try await conn.query("SELECT \(unescaped: schema).enqueue('https://a.example/h', '\\x7b7d'::bytea)")
        // An endpoint no delivery refers to is kept too: an enqueue to it may be committing meanwhile.
        try await conn.query("""
            INSERT INTO \(unescaped: schema).endpoints (application_id, url, secret)
            VALUES ('default', 'https://unused.example/h', \(unescaped: schema).new_webhook_secret())
            """)
        for statement in [
            "DELETE FROM \(schema).endpoints WHERE url = 'https://a.example/h'",
            "DELETE FROM \(schema).endpoints WHERE url = 'https://unused.example/h'",
            "TRUNCATE \(schema).endpoints CASCADE",
        ] {
            do {
                try await conn.query(PGQuery(sql: statement))
                Issue.record("accepted: \(statement)")
            } catch let error as PGError {
                #expect(error.sqlState == "55000", "\(statement): \(error)")
                #expect(error.message.contains("endpoint rows are not deleted"), "\(statement): \(error)")
                #expect(error.hint?.contains("herald endpoints delete") == true, "\(statement): \(error)")
            }
        }
        let counts = try #require(try await conn.query("""
            SELECT (SELECT count(*) FROM \(unescaped: schema).endpoints)::int AS endpoints,
                   (SELECT count(*) FROM \(unescaped: schema).deliveries)::int AS deliveries
            """).first)
        #expect(try counts.decode("endpoints", as: Int.self) == 2)
        #expect(try counts.decode("deliveries", as: Int.self) == 1)
        // The soft delete still works.
        try await conn.query("SELECT \(unescaped: schema).endpoint_delete(2)")
        let deleted = try await conn.query("SELECT deleted_at IS NOT NULL AS d FROM \(unescaped: schema).endpoints WHERE id = 2").first?.decode("d", as: Bool.self)
        #expect(deleted == true)
        await conn.close()
    }
}
