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
            pg, schema: schema, ["--metrics-port", String(port), "--metrics-host", "127.0.0.1", "--sample-interval", "200ms", "--log-format", "json"])
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
        for family in ["herald_attempt_duration_seconds_bucket", "herald_sends_in_flight", "herald_queue_lag_seconds", "herald_breakers_open", "# HELP herald_deliveries_total"] {
            #expect(metrics.contains(family), "missing \(family)")
        }
        let lint = try HTTPGet.promtool(metrics)
        #expect(lint.status == 0, "promtool: \(lint.output)")
        #expect(lint.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool: \(lint.output)")
        #expect(try await HTTPGet.fetch(base + "/healthz").status == 200)
        #expect(try await HTTPGet.fetch(base + "/readyz").status == 200)
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
}
