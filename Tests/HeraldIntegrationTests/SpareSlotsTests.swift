import Foundation
import Herald
import HeraldTestSupport
import PGDriver
import Synchronization
import Testing

/// Spare slots (``WorkerConfiguration/spareSlots``): a batch waiting only for a straggler gives its turn
/// to lease to a spare slot, so a few slow requests do not hold a worker's throughput hostage, and every
/// lease promise (one request per delivery at a time, nothing parked, nothing lost) still holds.
@Suite("Spare slots")
struct SpareSlotsTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    /// `stuck` deliveries to /stuck-0, /stuck-1, … (endpoints of their own: a new endpoint's window is 5
    /// requests), each followed by `fast` (a multiple of 4) to /fast-0…3, in enqueue order, so that stuck ones land in
    /// different batches.
    func enqueueInterleaved(
        _ conn: PGConnection, schema: String, receiver: TestReceiver, stuck: Int, fast: Int, stuckEndpoints: Int
    ) async throws {
        for i in 0..<stuck {
            try await conn.enqueueMany(schema: schema, url: receiver.url("/stuck-\(i % stuckEndpoints)"), count: 1)
            for part in 0..<4 { try await conn.enqueueMany(schema: schema, url: receiver.url("/fast-\(part)"), count: fast / 4) }
        }
    }

    /// Requests that reached the four fast endpoints.
    func fastRequests(_ receiver: TestReceiver) -> [TestReceiver.Request] {
        (0..<4).flatMap { receiver.requests(path: "/fast-\($0)") }
    }

    /// Delivers `count` to /fast-0…3 first, so that their windows have grown to the cap (128) as in steady
    /// state: a straggling round keeps the permits of its finished sends until it commits (and the rows its
    /// lease locked but found no permit for: docs/flow_control.md), so with a new endpoint's window of 5 one
    /// straggler could hold all of them.
    func warmUp(_ conn: PGConnection, schema: String, receiver: TestReceiver, count: Int) async throws {
        for part in 0..<4 { try await conn.enqueueMany(schema: schema, url: receiver.url("/fast-\(part)"), count: count / 4) }
        try await Wait.until("the warm-up deliveries", timeout: .seconds(45)) {
            try await delivered(conn, schema, path: "/fast") == count
        }
    }

    func delivered(_ conn: PGConnection, _ schema: String, path: String) async throws -> Int {
        try await conn.count("""
            SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries d JOIN \(unescaped: schema).endpoints e ON e.id = d.endpoint_id
            WHERE e.url LIKE \("%" + path + "%") AND d.state = 'delivered'
            """)
    }

    @Test("one worker at the default slots, spares and batch: 8 requests held open do not stop 384 others from being sent")
    func stragglersDoNotBlock() async throws {
        let holding = Mutex(true)
        let receiver = try await TestReceiver.start { request, _ in
            request.path.hasPrefix("/stuck") && holding.withLock({ $0 }) ? .hold : .status(200)
        }
        let (schema, conn) = try await pg.migratedSchema("spare")
        // A long request timeout: the held requests must outlast the test's slowest machine, not time out.
        let worker = try HeraldProcess.worker(pg, schema: schema, ["--request-timeout", "60s"])
        try await warmUp(conn, schema: schema, receiver: receiver, count: 200)
        try await enqueueInterleaved(conn, schema: schema, receiver: receiver, stuck: 8, fast: 48, stuckEndpoints: 8)
        // Sent, not yet recorded: the fast deliveries in a straggling round commit with it.
        try await Wait.until("the 384 fast deliveries sent while the 8 stuck requests are still open", timeout: .seconds(45)) {
            fastRequests(receiver).count == 584
        }
        #expect(receiver.heldCount == 8, "all 8 stuck requests still open: the fast ones went past them")
        #expect(try await delivered(conn, schema, path: "/stuck") == 0)
        holding.withLock { $0 = false }
        receiver.releaseHeld()
        try await Wait.until("the 8 stuck deliveries once answered", timeout: .seconds(30)) {
            try await delivered(conn, schema, path: "/stuck") == 8
        }
        let stuckRequests = (0..<8).flatMap { receiver.requests(path: "/stuck-\($0)") }
        let statuses = try await [worker].terminateAll()
        #expect(statuses == [0], "worker output: \(worker.output.suffix(2000))")
        #expect(try await delivered(conn, schema, path: "/fast") == 584)
        #expect(fastRequests(receiver).count == 584, "each fast delivery sent once")
        #expect(Set(fastRequests(receiver).map(\.key)).count == 584)
        #expect(stuckRequests.count == 8, "each stuck delivery sent once")
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).attempts WHERE outcome <> 'delivered'") == 0)
        await receiver.stop()
        await conn.close()
    }

    @Test("3 workers at the defaults, 30 stuck requests to 10 endpoints among 600 (more than one worker's spares): each delivery sent exactly once, none parked")
    func exactlyOnceAcrossTheFleet() async throws {
        let holding = Mutex(true)
        let receiver = try await TestReceiver.start { request, _ in
            request.path.hasPrefix("/stuck") && holding.withLock({ $0 }) ? .hold : .status(200, delay: .milliseconds(Int.random(in: 0...20)))
        }
        let (schema, conn) = try await pg.migratedSchema("spare")
        let workers = try (0..<3).map { _ in try HeraldProcess.worker(pg, schema: schema, ["--request-timeout", "60s"]) }
        try await warmUp(conn, schema: schema, receiver: receiver, count: 300)
        try await enqueueInterleaved(conn, schema: schema, receiver: receiver, stuck: 30, fast: 20, stuckEndpoints: 10)
        try await Wait.until("every stuck request to arrive", timeout: .seconds(45)) { receiver.heldCount == 30 }
        holding.withLock { $0 = false }
        receiver.releaseHeld()
        try await Wait.until("all 930 delivered", timeout: .seconds(60)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'delivered'") == 930
        }
        let statuses = try await workers.terminateAll()
        for (w, status) in zip(workers, statuses) { #expect(status == 0, "worker output: \(w.output.suffix(2000))") }
        let requests = fastRequests(receiver) + (0..<10).flatMap { receiver.requests(path: "/stuck-\($0)") }
        #expect(requests.count == 930, "one request per delivery")
        #expect(Set(requests.map(\.key)).count == 930)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'dead'") == 0)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).attempts WHERE outcome <> 'delivered'") == 0)
        await receiver.stop()
        await conn.close()
    }

    @Test("one worker at the defaults, all 8 slots in rounds held open by slow endpoints: a new delivery to a fast endpoint is sent before any of them ends, once")
    func slowRoundsLetNewWorkThrough() async throws {
        let holding = Mutex(true)
        let receiver = try await TestReceiver.start { request, _ in
            request.path.hasPrefix("/slow") && holding.withLock({ $0 }) ? .hold : .status(200)
        }
        let (schema, conn) = try await pg.migratedSchema("spare")
        // 128 rows, 4 to each of 32 endpoints (a new endpoint's window is 5, so none waits for a permit),
        // queued before the worker starts: every one of the 8 slots leases a full batch of 16 and waits on
        // requests that are held open. (Queued one endpoint at a time under a running worker, slots and
        // spares could lease partial batches and hold rows no free slot is left to lease.)
        for i in 0..<32 { try await conn.enqueueMany(schema: schema, url: receiver.url("/slow-\(i)"), count: 4) }
        let worker = try HeraldProcess.worker(pg, schema: schema, ["--request-timeout", "60s"])
        try await Wait.until("all 8 slots' batches held open (128 requests)", timeout: .seconds(45)) { receiver.heldCount == 128 }
        try await conn.enqueueMany(schema: schema, url: receiver.url("/fast"), count: 1)
        // No send of the held rounds ends, so the straggler rule never arms: only the slow-round hand-over
        // can lease this delivery before the held requests are answered.
        try await Wait.until("the fast delivery sent while every slow request is still open", timeout: .seconds(30)) {
            receiver.requests(path: "/fast").count == 1
        }
        #expect(receiver.heldCount == 128, "no held request was answered first")
        try await Wait.until("the fast delivery recorded", timeout: .seconds(30)) { try await delivered(conn, schema, path: "/fast") == 1 }
        holding.withLock { $0 = false }
        receiver.releaseHeld()
        try await Wait.until("the 128 slow deliveries once answered", timeout: .seconds(45)) {
            try await delivered(conn, schema, path: "/slow") == 128
        }
        let statuses = try await [worker].terminateAll()
        #expect(statuses == [0], "worker output: \(worker.output.suffix(2000))")
        let requests = receiver.requests(path: "/fast") + (0..<32).flatMap { receiver.requests(path: "/slow-\($0)") }
        #expect(requests.count == 129, "one request per delivery")
        #expect(Set(requests.map(\.key)).count == 129)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).attempts WHERE outcome <> 'delivered'") == 0)
        await receiver.stop()
        await conn.close()
    }
}
