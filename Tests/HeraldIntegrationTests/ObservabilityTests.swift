import Foundation
import HeraldTestSupport
import PGDriver
import Testing

@Suite("Metrics, probes and JSON logs")
struct ObservabilityTests {
    @Test("/metrics passes promtool and counts deliveries; /readyz turns unready when the database stops; logs are JSON")
    func metricsAndProbes() async throws {
        // A private cluster: this test stops it.
        let pg = try TestPostgres.startPrivate()
        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema("obs")
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/m")), '\\x7b7d'::bytea) FROM generate_series(1, 3)")
        let port = try TestPostgres.freePort()
        let worker = try HeraldProcess.worker(
            pg, schema: schema, ["--metrics-port", String(port), "--sample-interval", "200ms", "--log-format", "json"])
        defer { worker.stop() }
        let base = "http://127.0.0.1:\(port)"
        try await Wait.until("the metrics to count 3 deliveries", timeout: .seconds(30)) {
            guard let body = try? await HTTPGet.fetch(base + "/metrics").body else { return false }
            return body.contains("herald_deliveries_total{outcome=\"delivered\"} 3")
        }
        try await Wait.until("the sampled queue depth") {
            (try? await HTTPGet.fetch(base + "/metrics").body.contains("herald_queue_deliveries{state=\"delivered\"} 3")) == true
        }
        let metrics = try await HTTPGet.fetch(base + "/metrics").body
        for family in ["herald_attempt_duration_seconds_bucket", "herald_sends_in_flight", "herald_queue_lag_seconds", "herald_breakers_open", "herald_workers_live", "herald_attempt_number_bucket", "# HELP herald_deliveries_total"] {
            #expect(metrics.contains(family), "missing \(family)")
        }
        #expect(metrics.contains("herald_attempt_number_count 3"), "three finished sends, each a first attempt")
        let lint = try HTTPGet.promtool(metrics)
        #expect(lint.status == 0, "promtool: \(lint.output)")
        #expect(lint.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool: \(lint.output)")
        #expect(try await HTTPGet.fetch(base + "/healthz").status == 200)
        #expect(try await HTTPGet.fetch(base + "/readyz").status == 200)
        // Probes cost the database nothing: twenty of them open no session (the private cluster has no
        // other clients; the count is cumulative, so short-lived sessions are not missed).
        func sessions() async throws -> Int {
            try await conn.query("SELECT pg_stat_clear_snapshot()")
            return try await conn.count("SELECT sessions::int AS n FROM pg_stat_database WHERE datname = current_database()")
        }
        let before = try await sessions()
        for _ in 0..<20 { #expect(try await HTTPGet.fetch(base + "/readyz").status == 200) }
        #expect(try await sessions() - before < 3, "a /readyz probe opened a database session")
        #expect(worker.output.contains("\"address\":\"127.0.0.1:\(port)\""), "metrics bind 127.0.0.1 by default")
        await conn.close()
        try pg.stop()
        try await Wait.until("/readyz to turn unready", timeout: .seconds(20)) { try await HTTPGet.fetch(base + "/readyz").status == 503 }
        #expect(try await HTTPGet.fetch(base + "/healthz").status == 200, "alive even without its database")
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit() == 0)
        // Every line the worker wrote is one JSON object; attempts carry their delivery id and status.
        let lines = worker.output.split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] != nil && object?["msg"] != nil, "not a JSON log line: \(line)")
        }
        // Values are typed: ids, statuses and durations are JSON numbers.
        #expect(lines.contains { $0.contains("\"delivery_id\":") && $0.contains("\"status\":200") }, "\(lines.prefix(10))")
        let attempt = try #require(lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["delivery_id"] != nil && $0["status"] != nil })
        #expect(attempt["delivery_id"] is NSNumber && !(attempt["delivery_id"] is String), "\(attempt)")
        await receiver.stop()
    }

    @Test("a busy --metrics-port stops the worker before it starts, naming the flag and the port")
    func busyMetricsPort() async throws {
        let pg = try await TestPostgres.shared()
        let (schema, conn) = try await pg.migratedSchema("obs")
        let occupant = try await TestReceiver.start()
        let worker = try HeraldProcess.worker(pg, schema: schema, ["--metrics-port", String(occupant.port)])
        let status = try await worker.waitForExit()
        #expect(status != 0)
        #expect(worker.output.contains("--metrics-port \(occupant.port)"), "\(worker.output)")
        #expect(worker.output.contains("already in use"), "\(worker.output)")
        #expect(!worker.output.contains("worker started"), "\(worker.output)")
        await occupant.stop()
        await conn.close()
    }
}
