import Foundation
import Herald
import HeraldTestSupport
import PGDriver
import Testing

/// The hot paths that must not scan the audit history (issue #15): the queue sampler and `herald status`.
@Suite("History at scale")
struct HistoryAtScaleTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    @Test("past the exact-count limit, pending is counted exactly and finished states are estimated from statistics")
    func estimatedStates() async throws {
        let (schema, conn) = try await pg.migratedSchema("hist")
        // The statistics this test reads are its own ANALYZE's: an autovacuum of the table that overlaps the
        // UPDATE below reports the old and new row versions both as live (seen: 6,000 of 3,000), and its
        // report can land after the ANALYZE. That race is autovacuum's timing, not the estimate's arithmetic.
        try await conn.query("ALTER TABLE \(unescaped: schema).deliveries SET (autovacuum_enabled = false)")
        try await conn.enqueueMany(schema: schema, url: "https://example.com/h", count: 3000)
        // 2,000 delivered, 600 dead, 400 still pending.
        try await conn.query(
            """
            UPDATE \(unescaped: schema).deliveries SET state = CASE WHEN id <= 2000 THEN 'delivered' ELSE 'dead' END,
                   finished_at = now() WHERE id <= 2600
            """)
        try await conn.query("ANALYZE \(unescaped: schema).deliveries")
        let name = try SchemaName(schema)
        let exact = try await StatusStore(schema: name).status(on: conn)
        #expect(!exact.statesEstimated)
        #expect(exact.states["delivered"] == 2000 && exact.states["dead"] == 600 && exact.states["pending"] == 400)

        let estimated = try await StatusStore(schema: name, exactCountLimit: 1000).status(on: conn)
        #expect(estimated.statesEstimated)
        #expect(estimated.states["pending"] == 400, "pending is always exact")
        let delivered = try #require(estimated.states["delivered"])
        let dead = try #require(estimated.states["dead"])
        #expect(abs(delivered - 2000) <= 100, "\(delivered)")
        #expect(abs(dead - 600) <= 100, "\(dead)")
        await conn.close()
    }

    @Test("one worker of the fleet samples the queue; the others export zeros; when the sampler dies another takes over")
    func oneSamplerPerFleet() async throws {
        let (schema, conn) = try await pg.migratedSchema("samp")
        // Never due: the workers lease nothing, and the sampled pending count stays 25.
        func addPending(_ n: Int) async throws {
            try await conn.query("SELECT \(unescaped: schema).enqueue('https://example.com/s', '{}'::bytea) FROM generate_series(1, \(n))")
            try await conn.query("UPDATE \(unescaped: schema).deliveries SET next_attempt_at = now() + interval '1 hour'")
        }
        try await addPending(25)
        let ports = try (0..<2).map { _ in try TestPostgres.freePort() }
        let workers = try ports.map { port in
            try HeraldProcess.worker(pg, schema: schema, ["--sample-interval", "200ms", "--metrics-port", String(port), "--concurrency", "1"])
        }
        func gauge(_ port: Int, _ series: String) async -> Int? {
            guard let (status, body) = try? await HTTPGet.fetch("http://127.0.0.1:\(port)/metrics"), status == 200 else { return nil }
            let line = body.split(separator: "\n").first { $0.hasPrefix(series + " ") }
            return line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }.map { Int($0) }
        }
        func pending(_ port: Int) async -> Int? { await gauge(port, "herald_queue_deliveries{state=\"pending\"}") }
        var leader = -1
        try await Wait.until("one worker samples 25 pending, the other exports 0", timeout: .seconds(20)) {
            let readings = [await pending(ports[0]), await pending(ports[1])]
            if readings == [25, 0] { leader = 0 } else if readings == [0, 25] { leader = 1 }
            return leader >= 0
        }
        // The leader also counts the fleet's live workers (herald_workers_live); the follower exports 0.
        try await Wait.until("the leader counts 2 live workers", timeout: .seconds(20)) { await gauge(ports[leader], "herald_workers_live") == 2 }
        #expect(await gauge(ports[1 - leader], "herald_workers_live") == 0)
        // Stays so while the queue changes: the leader's later samples see it, the follower never samples.
        for more in [5, 10] {
            try await addPending(5)
            try await Wait.until("the leader samples \(25 + more)", timeout: .seconds(10)) { await pending(ports[leader]) == 25 + more }
            #expect(await pending(ports[1 - leader]) == 0)
        }
        workers[leader].signal(SIGKILL)
        _ = try await workers[leader].waitForExit()
        try await Wait.until("the other worker takes over sampling", timeout: .seconds(20)) { await pending(ports[1 - leader]) == 35 }
        workers[1 - leader].signal(SIGTERM)
        #expect(try await workers[1 - leader].waitForExit() == 0)
        await conn.close()
    }
}
