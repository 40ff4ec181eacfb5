import Foundation
import HeraldTestSupport
import PGDriver
import Testing

@Suite("Connection pool")
struct PGConnectionPoolTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    @Test("many tasks share at most `maximum` sessions, one task per session at a time")
    func bounded() async throws {
        let url = pg.url
        let pool = PGConnectionPool(maximum: 2) { try await PGConnection.connect(url) }
        let tracker = Tracker()
        let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    try await pool.withConnection { conn in
                        let pid = conn.backendPID
                        await tracker.begin(pid)
                        _ = try await conn.query("SELECT pg_sleep(0.02)")
                        await tracker.end(pid)
                        return pid
                    }
                }
            }
            return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
        }
        #expect(pids.count <= 2 && !pids.isEmpty, "\(pids)")
        #expect(await tracker.overlaps == 0, "a session was lent to two tasks at once")
        #expect(await pool.openCount <= 2)
        await pool.close()
        #expect(await pool.openCount == 0)
    }

    @Test("a session given back inside a transaction is closed, not lent again")
    func transactionLeftOpen() async throws {
        let url = pg.url
        let pool = PGConnectionPool(maximum: 1) { try await PGConnection.connect(url) }
        let first = try await pool.withConnection { conn in
            _ = try await conn.query("BEGIN")
            return conn.backendPID
        }
        let (second, status) = try await pool.withConnection { conn in (conn.backendPID, try await conn.transactionStatus()) }
        #expect(first != second)
        #expect(status == .idle)
        await pool.close()
        await #expect(throws: PGError.self) { try await pool.withConnection { _ in 1 } }
    }
}

/// Which sessions are in use, and how often one was lent twice at once.
private actor Tracker {
    var inUse: Set<Int32> = []
    var overlaps = 0
    func begin(_ pid: Int32) { if !inUse.insert(pid).inserted { overlaps += 1 } }
    func end(_ pid: Int32) { inUse.remove(pid) }
}
