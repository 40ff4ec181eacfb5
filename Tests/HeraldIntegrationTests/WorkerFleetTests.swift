import Foundation
import HeraldTestSupport
import PGDriver
import Testing

/// `herald workers`: real worker processes heartbeat into the database; a killed one falls silent within
/// the documented 3 heartbeat intervals, a gracefully stopped one says so, and prune forgets old rows.
@Suite("Worker fleet")
struct WorkerFleetTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    func herald(_ schema: String, _ arguments: [String]) async throws -> HeraldBinary.Result {
        try await HeraldBinary.run(arguments + ["--schema", schema], environment: ["DATABASE_URL": pg.url])
    }

    /// `herald workers --json`, by worker id.
    func workers(_ schema: String) async throws -> [String: [String: Any]] {
        let result = try await herald(schema, ["workers", "--json"])
        guard result.status == 0 else { throw TestSupportError("herald workers: \(result.stderr)") }
        let rows = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: rows.map { ($0["worker_id"] as? String ?? "", $0) })
    }

    @Test("3 workers appear live with their slots; a SIGKILLed one is silent within 3 intervals; SIGTERM marks stopped")
    func fleet() async throws {
        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema("fleet")
        let interval = 0.5
        let ids = (1...3).map { "fleet-\($0)" }
        let processes = try ids.map { id in
            try HeraldProcess.worker(pg, schema: schema, ["--concurrency", "2", "--heartbeat-interval", "500ms", "--worker-id", id])
        }
        try await Wait.until("3 live workers") {
            let fleet = try await workers(schema)
            return ids.allSatisfy { fleet[$0]?["state"] as? String == "live" }
        }
        var fleet = try await workers(schema)
        for id in ids {
            let row = try #require(fleet[id])
            #expect(row["slots"] as? Int == 2, "\(row)")
            #expect(row["sends_in_flight"] as? Int == 0, "\(row)")
            #expect(row["heartbeat_interval_ms"] as? Int == 500, "\(row)")
            #expect(row["pid"] as? Int == Int(processes[ids.firstIndex(of: id)!].pid), "\(row)")
            #expect(row["last_send_at"] is NSNull, "no send yet: \(row)")
        }
        let table = try await herald(schema, ["workers"])
        #expect(table.stdout.contains("WORKER") && table.stdout.contains("fleet-3"), "\(table.stdout)")
        try await Wait.until("the summary line and status counting 3") {
            let summary = try await herald(schema, ["workers"]).stdout
            let status = try await herald(schema, ["status"]).stdout
            return summary.contains("3 workers live, 6 slots, 0 sends in flight") && status.contains("workers     3 live")
        }

        // A send shows as the worker's last send within a heartbeat.
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/f")), '\\x7b7d'::bytea)")
        try await Wait.until("the delivery") { receiver.requests(path: "/f").count == 1 }
        try await Wait.until("a last send reported") { try await workers(schema).values.contains { $0["last_send_at"] is String } }

        let clock = ContinuousClock()
        let killedAt = clock.now
        processes[0].signal(SIGKILL)
        _ = try await processes[0].waitForExit()
        try await Wait.until("fleet-1 silent", timeout: .seconds(20)) { try await workers(schema)["fleet-1"]?["state"] as? String == "silent" }
        let took = clock.now - killedAt
        // Silent once its last beat is 3 intervals old: at most 1.5 s after the kill, plus the time one
        // `herald workers` process takes to start and answer on a loaded machine.
        #expect(took < .seconds(3 * interval + 5), "silent after \(took)")
        fleet = try await workers(schema)
        #expect((fleet["fleet-1"]?["silent_for_seconds"] as? Double ?? 0) >= 3 * interval, "\(fleet["fleet-1"] ?? [:])")
        // The others stay live (waited on, not sampled once: on a loaded machine a beat may come late).
        try await Wait.until("fleet-2 and fleet-3 live, and status counting 2") {
            let fleet = try await workers(schema)
            let status = try await herald(schema, ["status", "--json"]).stdout
            return fleet["fleet-2"]?["state"] as? String == "live" && fleet["fleet-3"]?["state"] as? String == "live"
                && status.contains("\"live_workers\" : 2")
        }

        for process in processes.dropFirst() { process.signal(SIGTERM) }
        for process in processes.dropFirst() { #expect(try await process.waitForExit() == 0) }
        fleet = try await workers(schema)
        #expect(fleet["fleet-2"]?["state"] as? String == "stopped" && fleet["fleet-3"]?["state"] as? String == "stopped", "\(fleet)")
        #expect(fleet["fleet-2"]?["stopped_at"] is String)
        #expect(fleet["fleet-1"]?["state"] as? String == "silent", "a killed worker never says it stopped")
        await receiver.stop()
        await conn.close()
    }

    @Test("prune removes heartbeat rows silent for more than a day, and keeps the rest")
    func prune() async throws {
        let (schema, conn) = try await pg.migratedSchema("fleet")
        try await conn.query(
            """
            INSERT INTO \(unescaped: schema).worker_heartbeats (worker_id, host, pid, version, slots, heartbeat_interval_ms, last_heartbeat_at)
            VALUES ('old', 'h', 1, '0', 2, 5000, now() - interval '25 hours'), ('recent', 'h', 2, '0', 2, 5000, now() - interval '23 hours'),
                   ('live', 'h', 3, '0', 2, 5000, now())
            """)
        let result = try await herald(schema, ["prune", "--older-than", "30d"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("pruned 1 worker heartbeat silent for more than a day"), "\(result.stdout)")
        let fleet = try await workers(schema)
        #expect(Set(fleet.keys) == ["recent", "live"])
        #expect(fleet["recent"]?["state"] as? String == "silent" && fleet["live"]?["state"] as? String == "live")
        await conn.close()
    }
}
