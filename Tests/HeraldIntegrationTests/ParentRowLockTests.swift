import HeraldTestSupport
import PGDriver
import Testing

/// Migrations 0033 and 0034: inserting a delivery no longer locks its endpoint's row, nor publishing a
/// message its application's (the foreign keys' checks did, and concurrent producers to one endpoint made a
/// MultiXact of ~4 in 10 enqueues); in exchange endpoint and application rows are kept: a DELETE or TRUNCATE
/// by hand is refused with what to do instead.
@Suite("Endpoint and application rows: enqueue and publish leave them unlocked; they are never deleted")
struct ParentRowLockTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    /// Whether another session can lock `table`'s row `id` FOR UPDATE at once: the lock that a key-share
    /// lock held by an open producer transaction refuses (55P03).
    private func lockableAtOnce(_ table: String, _ id: String, schema: String, from other: PGConnection) async throws -> Bool {
        do {
            try await other.withTransaction { tx in
                _ = try await tx.query("SELECT 1 FROM \(unescaped: schema).\(unescaped: table) WHERE id::text = \(id) FOR UPDATE NOWAIT")
            }
            return true
        } catch let error as PGError where error.sqlState == "55P03" {
            return false
        }
    }

    @Test("an open transaction that enqueued or published holds no lock on its endpoints' or application's rows")
    func enqueueAndPublishLeaveParentsUnlocked() async throws {
        let (schema, producer) = try await pg.migratedSchema("eplock")
        let other = try await pg.connect()
        // The rows exist before the transaction under test (the first enqueue creates its endpoint).
        try await producer.query("SELECT \(unescaped: schema).enqueue('https://a.example/h', '\\x7b7d'::bytea)")
        try await producer.query("INSERT INTO \(unescaped: schema).applications (id, name) VALUES ('acme', 'acme')")
        try await producer.query("""
            INSERT INTO \(unescaped: schema).endpoints (application_id, url, secret)
            SELECT 'acme', u, \(unescaped: schema).new_webhook_secret() FROM unnest(ARRAY['https://b.example/h', 'https://c.example/h']) u
            """)
        let ids = try await producer.query("SELECT id FROM \(unescaped: schema).endpoints ORDER BY id").rows.map { try $0.decode("id", as: Int64.self) }
        #expect(ids.count == 3)

        var locked: [String] = []
        try await producer.withTransaction { tx in
            let queued = try await tx.query("SELECT \(unescaped: schema).enqueue('https://a.example/h', '\\x7b7d'::bytea) AS id").first?.decode("id", as: Int64.self)
            #expect(queued != nil)
            let fanned = try await tx.query(
                "SELECT queued FROM \(unescaped: schema).publish_with_outcome('acme', 'invoice.paid', convert_to('{}', 'UTF8'))"
            ).first?.decode("queued", as: Int.self)
            #expect(fanned == 2, "one delivery per endpoint of acme")
            for id in ids {
                if try await !lockableAtOnce("endpoints", String(id), schema: schema, from: other) { locked.append("endpoint \(id)") }
            }
            if try await !lockableAtOnce("applications", "acme", schema: schema, from: other) { locked.append("application acme") }
        }
        #expect(locked.isEmpty, "rows locked by the open producer transaction: \(locked)")
        let pending = try await producer.query("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'pending'").first?.decode("n", as: Int.self)
        #expect(pending == 4, "the first enqueue, the one under test and the two published")
        await other.close()
        await producer.close()
    }

    @Test("DELETE and TRUNCATE of endpoints and applications are refused with what to do instead, and nothing is removed")
    func parentRowsAreKept() async throws {
        let (schema, conn) = try await pg.migratedSchema("epkeep")
        try await conn.query("SELECT \(unescaped: schema).enqueue('https://a.example/h', '\\x7b7d'::bytea)")
        // Rows nothing refers to are kept too: an enqueue or a publish to them may be committing meanwhile.
        let unused = try #require(try await conn.query("""
            INSERT INTO \(unescaped: schema).endpoints (application_id, url, secret)
            VALUES ('default', 'https://unused.example/h', \(unescaped: schema).new_webhook_secret()) RETURNING id
            """).first?.decode("id", as: Int64.self))
        try await conn.query("INSERT INTO \(unescaped: schema).applications (id, name) VALUES ('empty', 'empty')")
        // The endpoints' hint names the schema's function; the applications' hint the commands.
        let endpointHint = "\(schema).endpoint_delete(ID)", applicationHint = "herald endpoints list --app"
        let refused: [(statement: String, message: String, hint: String)] = [
            ("DELETE FROM \(schema).endpoints WHERE url = 'https://a.example/h'", "endpoint rows are not deleted", endpointHint),
            ("DELETE FROM \(schema).endpoints WHERE id = \(unused)", "endpoint rows are not deleted", endpointHint),
            ("TRUNCATE \(schema).endpoints", "endpoint rows are not deleted", endpointHint),
            ("TRUNCATE \(schema).endpoints CASCADE", "endpoint rows are not deleted", endpointHint),
            ("DELETE FROM \(schema).applications WHERE id = 'empty'", "application rows are not deleted", applicationHint),
            ("TRUNCATE \(schema).applications CASCADE", "application rows are not deleted", applicationHint),
        ]
        for (statement, message, hint) in refused {
            do {
                try await conn.query(PGQuery(sql: statement))
                Issue.record("accepted: \(statement)")
            } catch let error as PGError {
                #expect(error.sqlState == "55000", "\(statement): \(error)")
                #expect(error.message.contains(message), "\(statement): \(error)")
                #expect(error.hint?.contains(hint) == true, "\(statement): \(error)")
            }
        }
        let counts = try #require(try await conn.query("""
            SELECT (SELECT count(*) FROM \(unescaped: schema).endpoints)::int AS endpoints,
                   (SELECT count(*) FROM \(unescaped: schema).applications WHERE id IN ('default', 'empty'))::int AS applications,
                   (SELECT count(*) FROM \(unescaped: schema).deliveries)::int AS deliveries
            """).first)
        #expect(try counts.decode("endpoints", as: Int.self) == 2)
        #expect(try counts.decode("applications", as: Int.self) == 2)
        #expect(try counts.decode("deliveries", as: Int.self) == 1)
        // The hint's command works: the soft delete hides the endpoint and keeps its row.
        try await conn.query("SELECT \(unescaped: schema).endpoint_delete(\(unused))")
        let deleted = try await conn.query("SELECT deleted_at IS NOT NULL AS d FROM \(unescaped: schema).endpoints WHERE id = \(unused)").first?.decode("d", as: Bool.self)
        #expect(deleted == true)
        await conn.close()
    }
}
