import Foundation
@testable import Herald
import HeraldTestSupport
import PGDriver
import Testing

/// A lease passes over the rows its worker's other slots hold, without trying their locks (migrations/0031):
/// stepping over locked rows at the head of the due index cost every lease lock-manager work per slot.
@Suite("Lease: the worker's own rows are passed over")
struct LeaseHeldRowsTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    /// Leases with `held`, returns the ids leased and rolls back (rows and permits free again).
    private func lease(_ held: [Int64], limit: Int, schema: String, on conn: PGConnection) async throws -> [Int64] {
        var settings = WorkerConfiguration(connectionString: "", schema: try SchemaName(schema)).leaseSettings
        settings.limit = limit
        let query = DeliveryStore(schema: try SchemaName(schema)).leaseQuery(settings, held: held)
        try await conn.query("BEGIN")
        let ids = try await conn.query(query).rows.compactMap { try $0.decode("id", as: Int64?.self) }
        try await conn.query("ROLLBACK")
        return ids
    }

    @Test("the ids given are not leased by the first pass, one row or a batch; without them they are")
    func heldRowsAreNotLeased() async throws {
        let (schema, conn) = try await pg.migratedSchema("leaseheld")
        // Three endpoints, four due deliveries each, enqueued round-robin so the due order mixes them.
        for n in 0..<12 {
            try await conn.query("SELECT \(unescaped: schema).enqueue(\("https://held\(n % 3).example/h"), '\\x7b7d'::bytea)")
        }
        let all = try await conn.query("SELECT id FROM \(unescaped: schema).deliveries ORDER BY next_attempt_at, id").rows
            .map { try $0.decode("id", as: Int64.self) }
        #expect(all.count == 12)

        // Batch 1: the first pass alone. The head is taken without ids, passed over with them.
        #expect(try await lease([], limit: 1, schema: schema, on: conn) == [all[0]])
        #expect(try await lease([all[0]], limit: 1, schema: schema, on: conn) == [all[1]])
        #expect(try await lease(Array(all[0..<5]), limit: 1, schema: schema, on: conn) == [all[5]])

        // A full batch (the make-up read and the first pass; the walk is `walkPassesOverHeldRows`): none of
        // the given ids.
        let held = Array(all[0..<6])
        let leased = try await lease(held, limit: 16, schema: schema, on: conn)
        #expect(!leased.isEmpty)
        #expect(Set(leased).isDisjoint(with: held), "leased \(leased), of which \(Set(leased).intersection(held)) were given as held")
        let unheld = try await lease([], limit: 16, schema: schema, on: conn)
        #expect(!Set(unheld).isDisjoint(with: held), "without ids the head rows are leased again: \(unheld)")

        // The previous release's five-argument lease still leases, passing no ids; NULL ids pass none over.
        let old = try await conn.query(
            "SELECT lease_id FROM \(unescaped: schema).delivery_lease(1, 272, 128, 5, 1000) WHERE lease_id IS NOT NULL")
        #expect(old.count == 1)
        let null = try await conn.query(
            "SELECT lease_id FROM \(unescaped: schema).delivery_lease(1, 272, 128, 5, 1000, NULL) WHERE lease_id IS NOT NULL")
        #expect(try null.rows.map { try $0.decode("lease_id", as: Int64.self) } == [all[0]])
        await conn.close()
    }

    @Test("the walk past a full key passes over held rows too")
    func walkPassesOverHeldRows() async throws {
        let (schema, conn) = try await pg.migratedSchema("leasewalk")
        // Due order A1, B1, A2, A3, B2, C1, C2; endpoint A may have one request open, so a lease of 4 finds A
        // full in its first pass and walks the due order for the place left.
        let order = ["a", "b", "a", "a", "b", "c", "c"]
        for key in order {
            try await conn.query("SELECT \(unescaped: schema).enqueue(\("https://walk-\(key).example/h"), '\\x7b7d'::bytea)")
        }
        try await conn.query("UPDATE \(unescaped: schema).endpoints SET max_in_flight = 1 WHERE url = 'https://walk-a.example/h'")
        let all = try await conn.query("SELECT id FROM \(unescaped: schema).deliveries ORDER BY next_attempt_at, id").rows
            .map { try $0.decode("id", as: Int64.self) }
        let (a1, b1, a2, b2, c1, c2) = (all[0], all[1], all[2], all[4], all[5], all[6])
        // A1 and B1 held by other slots: the first pass takes A2 (A3 has no permit), B2 and C1; the walk
        // must pass over B1 (its key is not full) and take C2.
        let leased = try await lease([a1, b1], limit: 4, schema: schema, on: conn)
        #expect(Set(leased) == [a2, b2, c1, c2], "leased \(leased); B1 is \(b1)")
        await conn.close()
    }
}
