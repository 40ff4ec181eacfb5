import Foundation
import HeraldTestSupport
import PGDriver
import Testing

@testable import Herald

/// The statements a slot runs on every round keep one plan per connection (migration 0025 and the lease's
/// per-transaction `plan_cache_mode`): planning them on every call cost more than running them under
/// steady load (issue #15, docs/benchmarks.md "Steady state: plans once").
@Suite("Plan reuse")
struct PlanReuseTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    @Test("a lease's transaction runs its prepared completion with the generic plan from the first round, and only that transaction")
    func completionKeepsItsPlan() async throws {
        let (schema, setup) = try await pg.migratedSchema("plans")
        for n in 0..<3 {
            try await setup.query("SELECT \(unescaped: schema).enqueue('https://plans.example/h\(unescaped: String(n))', '\\x7b7d'::bytea)")
        }
        await setup.close()
        let conn = try await pg.connect()
        let configuration = WorkerConfiguration(connectionString: pg.url, schema: try SchemaName(schema))
        let store = DeliveryStore(schema: try SchemaName(schema))
        let rounds = 8
        for _ in 0..<rounds {
            let inside = try await conn.withTransaction(startingWith: store.leaseQuery(configuration.leaseSettings)) { tx, _ in
                // An empty batch: the statement is planned and run all the same, and changes nothing.
                try await tx.query(store.completeQuery([], prepared: true))
                return try await tx.query("SHOW plan_cache_mode").first?.decode("plan_cache_mode", as: String.self)
            }
            #expect(inside == "force_generic_plan")
        }
        // Left to choose, PostgreSQL makes custom plans for a prepared statement's first five runs, and
        // goes back to them whenever the generic plan looks dearer than their average.
        let plans = try await conn.query(
            "SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements WHERE statement LIKE '%FROM logged%'")
        #expect(plans.count == 1, "the completion is prepared once on this connection")
        #expect(try plans.first?.decode("custom", as: Int.self) == 0)
        #expect(try plans.first?.decode("generic", as: Int.self) == rounds)
        #expect(try await conn.query("SHOW plan_cache_mode").first?.decode("plan_cache_mode", as: String.self) == "auto",
                "the setting ends with the lease's transaction: behind a pooler the next one may be another client's")
        // The lease function's own statements are planned once per connection too.
        let config = try await conn.query(
            "SELECT array_to_string(proconfig, ',') AS config FROM pg_proc WHERE proname = 'delivery_lease' AND pronamespace = \(schema)::regnamespace")
        #expect(try config.first?.decode("config", as: String.self).contains("plan_cache_mode=force_generic_plan") == true)
        await conn.close()
    }
}
