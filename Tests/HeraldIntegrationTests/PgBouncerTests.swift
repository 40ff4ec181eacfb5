import Foundation
import Herald
import HeraldTestSupport
import PGDriver
import Testing

/// Workers behind a real transaction-pooling PgBouncer (issue #15): consecutive transactions of one client
/// run on different server connections, sessions are not the client's, and LISTEN does not work through it.
@Suite("Behind PgBouncer")
struct PgBouncerTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    /// A worker whose database connections go through `bouncer`, except LISTEN and the sampler's lock.
    func worker(_ bouncer: TestPgBouncer, schema: String, _ extra: [String] = []) throws -> HeraldProcess {
        try HeraldProcess(
            ["worker", "--schema", schema, "--log-level", "debug", "--allow-private-networks", "--prepared-statements", "off",
             "--listen-database-url", pg.url] + extra,
            environment: ["DATABASE_URL": bouncer.url])
    }

    @Test("1,000 deliveries enqueued and delivered through the pooler by 3 workers at the defaults: each exactly once, no prepared-statement errors")
    func engineThroughPooler() async throws {
        let bouncer = try TestPgBouncer.start(in: pg)
        defer { bouncer.stop() }
        let receiver = try await TestReceiver.start()
        let (schema, direct) = try await pg.migratedSchema("pgb")
        await direct.close()
        // The producer goes through the pooler too.
        let producer = try await PGConnection.connect(bouncer.url)
        try await producer.enqueueMany(schema: schema, url: receiver.url("/pooled"), count: 1000)
        let workers = try (0..<3).map { _ in try worker(bouncer, schema: schema) }
        try await Wait.until("1,000 delivered", timeout: .seconds(90)) {
            try await producer.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'delivered'") == 1000
        }
        for w in workers { w.signal(SIGTERM) }
        for w in workers { #expect(try await w.waitForExit() == 0, "\(w.output.suffix(1500))") }
        let requests = receiver.requests(path: "/pooled")
        #expect(requests.count == 1000)
        #expect(Set(requests.map(\.key)).count == 1000)
        #expect(receiver.maxOpenPerKey == 1)
        #expect(try await producer.count("SELECT count(*)::int AS n FROM \(unescaped: schema).attempts") == 1000)
        // As PGError prints a server error ("PostgreSQL error 26000: prepared statement … does not exist"): the bare
        // digits also matched a worker id made of the host and a process id 26000.
        for w in workers { #expect(!w.output.contains("error 26000"), "no prepared statement the pooler lost: \(w.output.suffix(800))") }
        await producer.close()
        await receiver.stop()
    }

    @Test("a worker frozen mid-lease behind the pooler loses its lease to the server's idle timeout; another worker delivers, never overlapping")
    func frozenWorkerThroughPooler() async throws {
        let bouncer = try TestPgBouncer.start(in: pg)
        defer { bouncer.stop() }
        // The first request is held until its worker is frozen, then answered: the answer is never read.
        let receiver = try await TestReceiver.start { _, attempt in attempt == 1 ? .hold : .status(200) }
        let (schema, conn) = try await pg.migratedSchema("pgbf")
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/frozen")), '{}'::bytea)")
        // Request timeout 6 s (long enough for the stop to land before the held send times out, even on a
        // loaded machine): the lease's idle-in-transaction timeout is 16 s, and so is the resend wait.
        let first = try worker(bouncer, schema: schema, ["--request-timeout", "6s", "--concurrency", "2"])
        try await Wait.until("the first send arrives", timeout: .seconds(20)) { !receiver.requests(path: "/frozen").isEmpty }
        first.signal(SIGSTOP)
        defer { first.signal(SIGKILL); first.signal(SIGCONT) }
        try await Wait.until("the first worker stopped", timeout: .seconds(10)) { Self.isStopped(first.pid) }
        receiver.releaseHeld(status: 200)
        let second = try worker(bouncer, schema: schema, ["--request-timeout", "6s", "--concurrency", "2"])
        try await Wait.until("delivered by the second worker", timeout: .seconds(60)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'delivered'") == 1
        }
        second.signal(SIGTERM)
        #expect(try await second.waitForExit() == 0)
        let requests = receiver.requests(path: "/frozen")
        try #require(requests.count == 2, "one frozen send and one by the second worker")
        #expect(Set(requests.map(\.key)).count == 1, "the same idempotency key")
        #expect(receiver.maxOpenPerKey == 1, "the second send never overlapped the first")
        let gap = requests[1].receivedAt.timeIntervalSince(requests[0].receivedAt)
        #expect(gap >= 15.5, "not before the resend wait (16 s) after the first send: \(gap)")
        await receiver.stop()
        await conn.close()
    }

    /// Whether the process is stopped (state T in /proc): the signal took effect.
    static func isStopped(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(close, offsetBy: 2)] == "T"
    }
}
