import Foundation
import HeraldTestSupport
import Synchronization
import Testing

@testable import PGDriver

@Suite("PGConnection: cancellation never reaches the wrong statement, commits are reported")
struct PGCancellationTests {
    @Test("a transaction whose body committed reports success even if its task was cancelled afterwards")
    func committedIsSuccess() async throws {
        let conn = try await TestPostgres.shared().connect()
        try await conn.query("CREATE TEMP TABLE committed (v int)")
        let task = Task {
            try await conn.withTransaction { c -> Int in
                try await c.commit(with: "INSERT INTO committed VALUES (1)")
                withUnsafeCurrentTask { $0?.cancel() }
                return 7
            }
        }
        let result = await task.result
        #expect((try? result.get()) == 7, "\(result)")
        #expect(try await conn.query("SELECT count(*)::int AS n FROM committed").first?.decode("n", as: Int.self) == 1)
        await conn.close()
    }

    @Test("a transaction cancelled before its commit rolls back and says so")
    func cancelledBeforeCommit() async throws {
        let conn = try await TestPostgres.shared().connect()
        try await conn.query("CREATE TEMP TABLE uncommitted (v int)")
        let task = Task {
            try await conn.withTransaction { c -> Int in
                try await c.query("INSERT INTO uncommitted VALUES (1)")
                withUnsafeCurrentTask { $0?.cancel() }
                return 7
            }
        }
        let outcome = await task.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(try await conn.query("SELECT count(*)::int AS n FROM uncommitted").first?.decode("n", as: Int.self) == 0)
        await conn.close()
    }

    @Test("a cancel request that arrives after its statement ended does not cancel the next one (shared connection)")
    func lateCancelMissesNextStatement() async throws {
        let pg = try await TestPostgres.shared()
        let conn = try await pg.connect()
        let watcher = try await pg.connect()
        // The first statement waits on a lock the watcher holds, so the test knows when it runs; the
        // request for it leaves 2 s after the cancel, long after the lock is released and it has ended.
        try await watcher.query("SELECT pg_advisory_lock(4242)")
        conn.cancelRequestDelay.store(2000, ordering: .relaxed)
        let first = Task { try await conn.query("SELECT pg_advisory_xact_lock(4242)") }
        try await Wait.until("the first statement to wait for the lock") {
            try await watcher.query(
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = \(conn.backendPID) AND wait_event_type = 'Lock'"
            ).first?.decode("n", as: Int.self) == 1
        }
        first.cancel()
        try await watcher.query("SELECT pg_advisory_unlock(4242)")
        // Another task's statement on the same connection, queued behind the first, running when the late
        // request arrives.
        let second = try await conn.query("SELECT pg_sleep(2.5), 42 AS answer")
        #expect(try second.first?.decode("answer", as: Int.self) == 42)
        _ = await first.result
        conn.cancelRequestDelay.store(0, ordering: .relaxed)
        // A cancel meant for a running statement still works.
        let third = Task { try await conn.query("SELECT pg_sleep(30)") }
        try await Wait.until("the third statement to run") {
            try await watcher.query(
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = \(conn.backendPID) AND state = 'active'"
            ).first?.decode("n", as: Int.self) == 1
        }
        third.cancel()
        await #expect(throws: CancellationError.self) { try await third.value }
        #expect(try await conn.query("SELECT 1 AS one").first?.decode("one", as: Int.self) == 1)
        await conn.close()
        await watcher.close()
    }

    @Test("a cancel request that hangs holds no lock: close() returns, and the connection is retired, not reused")
    func stalledCancel() async throws {
        let pg = try await TestPostgres.shared()
        let proxy = try StallingProxy(to: pg.port)
        defer { proxy.stop() }
        var url = try #require(URLComponents(string: pg.url))
        url.host = "127.0.0.1"
        url.port = proxy.port
        let conn = try await PGConnection.connect(url.string!)
        let watcher = try await pg.connect()
        conn.cancelWaitLimit.store(1000, ordering: .relaxed)
        proxy.stall.store(true, ordering: .relaxed)  // the cancel request's own connection gets no answer
        try await watcher.query("SELECT pg_advisory_lock(4343)")
        let running = Task { try await conn.query("SELECT pg_advisory_xact_lock(4343)") }
        try await Wait.until("the statement to wait for the lock") {
            try await watcher.query(
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = \(conn.backendPID) AND wait_event_type = 'Lock'"
            ).first?.decode("n", as: Int.self) == 1
        }
        running.cancel()
        try await watcher.query("SELECT pg_advisory_unlock(4343)")  // the statement ends; its cancel never arrives
        _ = await running.result
        #expect(conn.isClosed, "a session with a cancel request still out is not used again")
        // close() takes the cancel lock: it must not wait for the stalled PQcancel.
        // Not awaited directly: on failure it would never return (the deferred proxy.stop() then frees it).
        final class Flag: Sendable { let value = Atomic<Bool>(false) }
        let closed = Flag()
        let closing = Task {
            await conn.close()
            closed.value.store(true, ordering: .relaxed)
        }
        try await Wait.until("close() to return while the cancel request hangs", timeout: .seconds(10)) { closed.value.load(ordering: .relaxed) }
        proxy.stop()
        await closing.value
        await watcher.close()
    }

    @Test("wake() after close writes to no descriptor, even when the numbers were reused")
    func wakeAfterClose() async throws {
        let conn = try await TestPostgres.shared().connect()
        await conn.close()
        // Take the freed numbers with socket pairs: a byte written to either end shows up at the other.
        var pairs: [[Int32]] = []
        for _ in 0..<4 {
            var fds: [Int32] = [-1, -1]
            #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
            for fd in fds { _ = fcntl(fd, F_SETFL, O_NONBLOCK) }
            pairs.append(fds)
        }
        #expect(conn.wake() == false)
        for fds in pairs {
            for fd in fds {
                var byte: UInt8 = 0
                #expect(read(fd, &byte, 1) == -1, "a byte reached descriptor \(fd), reused after close")
            }
        }
        for fd in pairs.flatMap({ $0 }) { close(fd) }
    }
}

@Suite("PGConnection: TCP keepalives and user timeout by default")
struct PGKeepaliveTests {
    @Test("every session gets keepalives and tcp_user_timeout unless the connection string sets them")
    func defaults() async throws {
        let pg = try await TestPostgres.shared()
        let conn = try await pg.connect()
        for (keyword, value) in PGConnection.tcpDefaults {
            #expect(try await conn.option(keyword) == value, "\(keyword)")
        }
        #expect(try await conn.option("password") == nil)
        await conn.close()
        let separator = pg.url.contains("?") ? "&" : "?"
        let own = try await PGConnection.connect(pg.url + "\(separator)keepalives_idle=42&tcp_user_timeout=1234")
        #expect(try await own.option("keepalives_idle") == "42")
        #expect(try await own.option("tcp_user_timeout") == "1234")
        #expect(try await own.option("keepalives_count") == "3")
        await own.close()
    }
}
