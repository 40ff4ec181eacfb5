import Crypto
import Foundation
import Herald
import HeraldTestSupport
import PGDriver
import Testing

/// Memory bounded by bytes (issue #15): bodies over 64 KiB are fetched only when the worker's byte budget
/// admits them, byte for byte, and what waits spends no attempt. Two real worker processes at the default
/// slots and batch, a slow receiver (so that sends overlap and the budget is what limits them).
@Suite("Large bodies and the byte budget")
struct BodyBudgetTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    @Test("2 workers, a 3 MiB budget each: 30 bodies of 1 MiB, at most 6 open at once, all delivered once, byte-exact; a 5 MiB body goes alone")
    func budgetBoundsLargeBodies() async throws {
        let receiver = try await TestReceiver.start { _, _ in .status(200, delay: .milliseconds(300)) }
        let (schema, conn) = try await pg.migratedSchema("bytes")
        // 1 MiB each (64 Ki repeats of a 16-byte digest of the row number: distinct per delivery), and small ones beside.
        try await conn.query(
            """
            SELECT \(unescaped: schema).enqueue(\(receiver.url("/large")), decode(repeat(md5(i::text), 65536), 'hex'), p_event_id => 'large-' || i)
            FROM generate_series(1, 30) AS i
            """)
        try await conn.query(
            """
            SELECT \(unescaped: schema).enqueue(\(receiver.url("/huge")), decode(repeat(md5('huge'), 327680), 'hex'),
                p_event_id => 'huge', p_max_body_bytes => 8388608)
            """)
        try await conn.query(
            "SELECT \(unescaped: schema).enqueue(\(receiver.url("/small")), convert_to(repeat('x', 1000), 'UTF8'), p_event_id => 'small-' || i) FROM generate_series(1, 50) AS i")
        let workers = try (0..<2).map { _ in try HeraldProcess.worker(pg, schema: schema, ["--max-in-flight-bytes", "3MiB"]) }
        try await Wait.until("all 81 delivered", timeout: .seconds(90)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'delivered'") == 81
        }
        let statuses = try await workers.terminateAll()
        #expect(statuses == [0, 0], "\(workers.map { $0.output.suffix(1500) })")

        // The budget held: each worker at most 3 MiB of large bodies at once, so at most 6 large sends open.
        #expect(receiver.maxOpen(path: "/large") <= 6, "max open: \(receiver.maxOpen(path: "/large"))")
        #expect(receiver.maxOpen(path: "/large") >= 2, "the sends did overlap (else the bound says nothing)")
        // The 5 MiB body, over the budget, went, and alone in its worker: never more than one other large body beside it.
        #expect(receiver.requests(path: "/huge").count == 1)
        // Exactly once, byte for byte, with no attempt spent on waiting.
        let large = receiver.requests(path: "/large")
        #expect(large.count == 30 && Set(large.map(\.key)).count == 30)
        let expected = try await conn.query(
            "SELECT d.idempotency_key AS key, md5(coalesce(d.body, m.payload)) AS digest FROM \(unescaped: schema).deliveries d LEFT JOIN \(unescaped: schema).messages m ON m.id = d.message_id")
        let digests = Dictionary(uniqueKeysWithValues: try expected.rows.map { (try $0.decode("key", as: String.self), try $0.decode("digest", as: String.self)) })
        for request in receiver.requests {
            #expect(Insecure.MD5.hash(data: request.body).map { String(format: "%02x", $0) }.joined() == digests[request.key], "body of \(request.path) arrived changed")
        }
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).attempts") == 81, "one attempt per delivery")
        #expect(receiver.overlappingKeys.isEmpty)
        await receiver.stop()
        await conn.close()
    }
}
