import Foundation
import HeraldTestSupport
import PGDriver
import Testing

/// `waitUntilLost()`: how a slot learns that the server ended the transaction it holds across its sends.
@Suite("Watching held transactions")
struct PGLeaseWatchTests {
    /// Threads of this process asleep in `poll` (the kernel's wait channel, from /proc).
    static func threadsInPoll() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").filter { tid in
            let channel = (try? String(contentsOfFile: "/proc/self/task/\(tid)/wchan", encoding: .utf8)) ?? ""
            return channel.hasPrefix("poll_schedule_timeout")
        }.count
    }

    @Test("300 open transactions watched at once hold no thread each, and every watch ends with connectionLost when its backend goes")
    func manyWatches() async throws {
        let pg = try await TestPostgres.shared()
        let killer = try await pg.connect()
        var held: [PGConnection] = []
        for _ in 0..<300 {
            let conn = try await pg.connect()
            try await conn.query("BEGIN")
            held.append(conn)
        }
        try await withThrowingTaskGroup(of: PGError.Code?.self) { group in
            for conn in held {
                group.addTask {
                    do {
                        try await conn.waitUntilLost()
                    } catch let error as PGError {
                        return error.code
                    }
                }
            }
            try await Wait.until("every transaction to be watched") {
                try await killer.count("SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'idle in transaction' AND pid <> pg_backend_pid()") >= 300
            }
            // Watched the old way, each watch was a thread blocked in poll (as many as Dispatch would start).
            let polling = try Self.threadsInPoll()
            #expect(polling < 20, "threads in poll while watching 300 transactions: \(polling)")
            let pids = held.map { String($0.backendPID) }.joined(separator: ",")
            try await killer.query(PGQuery(sql: "SELECT pg_terminate_backend(pid) FROM unnest('{\(pids)}'::int[]) pid"))
            var lost = 0
            for try await code in group {
                #expect(code == .connectionLost)
                lost += 1
            }
            #expect(lost == 300)
        }
        for conn in held { await conn.close() }
        await killer.close()
    }

    @Test("cancelling a watch ends it at once and leaves the transaction and the connection usable")
    func cancel() async throws {
        let conn = try await TestPostgres.shared().connect()
        try await conn.query("BEGIN")
        let watch = Task { try await conn.waitUntilLost() }
        watch.cancel()
        await #expect(throws: CancellationError.self) { try await watch.value }
        #expect(try await conn.count("SELECT 1::int AS n") == 1)
        try await conn.query("COMMIT")
        await conn.close()
    }
}
