import Foundation
@testable import Herald
import HeraldTestSupport
import PGDriver
import Testing

/// A slot whose round leased less than a full batch took everything due, so it waits for a ring instead of
/// leasing again at once (`Doorbell`); it must still come back by itself for what its round put back.
@Suite("Slots: after a partial round, a ring or what the round put back, not the poll")
struct SlotWaitTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    @Test("a retry a round scheduled is leased when it falls due, with a 30 s poll and no notification")
    func retryIsLeasedWhenDue() async throws {
        // The first answer is a 500 after 300 ms, so the round ends well after the listener's trailing
        // wake-up (20 ms after the notification): nothing but the round's own retry time brings a slot back.
        let receiver = try await TestReceiver.start { _, attempt in
            attempt == 1 ? .status(500, delay: .milliseconds(300)) : .status(200)
        }
        let (schema, conn) = try await pg.migratedSchema("slotwait")
        let worker = try HeraldProcess.worker(
            pg, schema: schema, ["--poll-interval", "30s", "--backoff-base", "1s", "--backoff-factor", "1", "--concurrency", "2"])
        try await Wait.until("the worker is up (its heartbeat row)") {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).worker_heartbeats") == 1
        }
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/retry")), '\\x7b7d'::bytea)")
        // Full jitter on a 1 s base: the retry is due within a second of the 500; 30 s is the poll.
        try await Wait.until("delivered on the retry, long before the poll", timeout: .seconds(10)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'delivered'") == 1
        }
        #expect(receiver.requests(path: "/retry").count == 2)
        let statuses = try await [worker].terminateAll()
        #expect(statuses == [0], "worker output: \(worker.output.suffix(2000))")
        await receiver.stop()
        await conn.close()
    }

    @Test("a lease that leased rows still reports when the next pending delivery falls due (migration 0023)")
    func leaseReportsNextDue() async throws {
        let (schema, conn) = try await pg.migratedSchema("slotwait")
        try await conn.query("SELECT \(unescaped: schema).enqueue('https://due.example/h', '\\x7b7d'::bytea)")
        // A retry another slot wrote, due in an hour.
        try await conn.query(
            """
            INSERT INTO \(unescaped: schema).deliveries (endpoint_id, idempotency_key, body, breaker_key, next_attempt_at)
            SELECT e.id, 'msg_later', '\\x7b7d'::bytea, 'endpoint:' || e.id, now() + interval '1 hour'
            FROM \(unescaped: schema).endpoints e WHERE e.url = 'https://due.example/h'
            """)
        let later = try #require(
            try await conn.query("SELECT next_attempt_at FROM \(unescaped: schema).deliveries WHERE idempotency_key = 'msg_later'").first
        ).decode("next_attempt_at", as: Date.self)
        let lease = DeliveryStore(schema: try SchemaName(schema))
            .leaseQuery(WorkerConfiguration(connectionString: "", schema: try SchemaName(schema)).leaseSettings)
        let (leased, nextDue) = try await conn.withTransaction(startingWith: lease) { tx, result in
            let ids = try result.rows.compactMap { try $0.decode("id", as: Int64?.self) }
            let status = try result.rows.first { try $0.decode("id", as: Int64?.self) == nil && $0.decode("backlog_key", as: String?.self) == nil }
            let due = try status?.decode("backlog_until", as: Date?.self)
            await tx.rollback()
            return (ids.count, due)
        }
        #expect(leased == 1)
        #expect(nextDue.map { abs($0.timeIntervalSince(later)) < 0.001 } == true, "next due \(String(describing: nextDue)), expected \(later)")
        await conn.close()
    }
}
