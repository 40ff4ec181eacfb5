import Foundation
import HeraldTestSupport
import PGDriver
import Testing

/// OpenTelemetry export end to end (issue #16): a producer's `traceparent` on an API publish, a real
/// `herald serve` and `herald worker` exporting OTLP/HTTP to a collector on 127.0.0.1, and a receiver that
/// gets the attempt's `traceparent`. One trace must read producer → serve request → `herald.lease` →
/// `webhook.attempt`, and the receiver's `traceparent` must name the exported attempt span.
@Suite("Tracing")
struct TracingTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    /// The environment that turns export on: OTLP/HTTP with JSON bodies (readable here without protobuf),
    /// a short batch delay so that spans arrive while the test waits.
    static func otel(_ collector: TestReceiver) -> [String: String] {
        [
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url(""), "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        ]
    }

    @Test("producer → serve → herald.lease → webhook.attempt → receiver, with attributes, links and log trace ids")
    func producerToReceiver() async throws {
        let collector = try await TestReceiver.start { _, _ in .status(200, headers: ["Content-Type": "application/json"], body: "{}") }
        let receiver = try await TestReceiver.start { _, attempt in attempt == 1 ? .status(500) : .status(200) }
        let (schema, conn) = try await pg.migratedSchema("trace")
        let made = try await HeraldBinary.run(["tokens", "create", "--schema", schema, "--admin"], environment: ["DATABASE_URL": pg.url])
        try #require(made.status == 0, "\(made.stderr)")
        let token = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await conn.query("INSERT INTO \(unescaped: schema).applications (id, name) VALUES ('acme', 'Acme')")
        // A credential in the URL's query: the span's url.full must not carry it.
        try await conn.query(
            """
            INSERT INTO \(unescaped: schema).endpoints (application_id, url, secret)
            VALUES ('acme', \(receiver.url("/hooks?token=s3cr3t-value")), \(unescaped: schema).new_webhook_secret())
            """)
        let server = try await ServeProcess(pg, schema: schema, environment: Self.otel(collector))
        let trace = "0af7651916cd43dd8448eb211c80319c"
        let producerSpan = "b7ad6b7169203331"
        let published = try await server.client.send(
            "POST", "/v1/applications/acme/messages", token: token, json: ["eventType": "invoice.paid", "payload": ["n": 1]],
            headers: ["traceparent": "00-\(trace)-\(producerSpan)-01"])
        try #require(published.status == 202, "\(published)")
        let worker = try HeraldProcess(
            ["worker", "--schema", schema, "--allow-private-networks", "--log-format", "json", "--log-level", "debug", "--backoff-base", "1s", "--backoff-factor", "1"],
            environment: Self.otel(collector).merging(["DATABASE_URL": pg.url]) { _, url in url })
        defer { worker.signal(SIGKILL) }
        try await Wait.until("delivered after one retry", timeout: .seconds(30)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'delivered'") == 1
        }
        var spans: [String: CollectedSpan] = [:]
        do {
            try await Wait.until("the worker's and the server's spans at the collector", timeout: .seconds(30)) {
                spans = CollectedSpan.all(in: collector.requests(path: "/v1/traces"))
                return spans.values.filter { $0.name == "webhook.attempt" }.count == 2 && spans.values.contains { $0.kind == 2 }
                    && spans.values.filter { $0.name == "herald.complete" }.count >= 2
            }
        } catch {
            Issue.record("collected: \(spans.values.map(\.name).sorted()); worker: \(worker.output.suffix(3000)); serve: \(server.process.output.suffix(2000))")
            throw error
        }
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit() == 0)

        // The server's span continues the producer's, and the published message continues the server's span.
        let serve = try #require(spans.values.first { $0.kind == 2 && $0.traceID == trace }, "\(spans.values.map(\.name))")
        #expect(serve.parentID == producerSpan)
        #expect(serve.service == "herald-serve")
        #expect(serve.attributes["http.response.status_code"] == "202")
        // Each attempt hangs under its delivery's lease span, which hangs under the server's span.
        let attempts = spans.values.filter { $0.name == "webhook.attempt" }.sorted { $0.attributes["retry.attempt_number"] ?? "" < $1.attributes["retry.attempt_number"] ?? "" }
        #expect(attempts.map { $0.attributes["retry.attempt_number"] } == ["1", "2"])
        for attempt in attempts {
            #expect(attempt.traceID == trace)
            #expect(attempt.kind == 3, "client")
            #expect(attempt.service == "herald-worker")
            let lease = try #require(spans[attempt.parentID ?? ""], "the attempt's parent is exported")
            #expect(lease.name == "herald.lease")
            #expect(lease.parentID == serve.spanID)
            #expect(lease.attributes["webhook.id"] == attempt.attributes["webhook.id"])
            // The lease span links to its round, whose trace holds the round trips.
            let round = try #require(lease.links.first.flatMap { spans[$0] }, "the lease span links to an exported round")
            #expect(round.name == "herald.round")
            let stages = Set(spans.values.filter { $0.parentID == round.spanID }.map(\.name))
            #expect(stages == ["herald.lease.query", "herald.journal", "herald.complete"])
            #expect(attempt.attributes["http.request.method"] == "POST")
            let url = try #require(attempt.attributes["url.full"])
            #expect(url.contains("/hooks") && !url.contains("s3cr3t-value"), "credentials removed: \(url)")
            #expect(attempt.attributes["herald.application_id"] == "acme")
            #expect(attempt.attributes["herald.endpoint_id"] != nil && attempt.attributes["herald.delivery_id"] != nil)
        }
        #expect(attempts.first?.attributes["http.response.status_code"] == "500")
        #expect(attempts.first?.attributes["herald.outcome"] == "retry")
        #expect(Int(attempts.first?.attributes["retry.delay_ms"] ?? "") != nil, "a retry says its delay")
        #expect(attempts.first?.statusCode == 2, "a failed attempt is an error span")
        #expect(attempts.last?.attributes["http.response.status_code"] == "200")
        #expect(attempts.last?.attributes["herald.outcome"] == "delivered")

        // The receiver got each attempt's own span as its parent.
        let sent = receiver.requests.filter { $0.path.hasPrefix("/hooks") }.compactMap { $0.headers["traceparent"] }
        #expect(sent == attempts.map { "00-\(trace)-\($0.spanID)-01" })

        // JSON log lines of the same work carry the trace id and the attempt's span id.
        let lines = worker.output.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
        let logged = lines.filter { $0["msg"] as? String == "attempt finished" }
        #expect(Set(logged.compactMap { $0["span_id"] as? String }) == Set(attempts.map(\.spanID)))
        #expect(logged.allSatisfy { $0["trace_id"] as? String == trace })

        server.process.signal(SIGTERM)
        _ = try await server.process.waitForExit()
        await collector.stop()
        await receiver.stop()
        await conn.close()
    }

    @Test("export is off without OTEL_* variables: no request reaches a collector, and the receiver still gets the trace")
    func offByDefault() async throws {
        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema("trace")
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/plain")), '{}'::bytea, p_traceparent => \("00-\(trace)-00f067aa0ba902b7-01"))")
        let worker = try HeraldProcess.worker(pg, schema: schema)
        defer { worker.signal(SIGKILL) }
        try await Wait.until("delivered", timeout: .seconds(30)) { !receiver.requests(path: "/plain").isEmpty }
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit() == 0)
        #expect(!worker.output.contains("exporting spans"))
        let sent = receiver.requests(path: "/plain").first?.headers["traceparent"] ?? ""
        #expect(sent.hasPrefix("00-\(trace)-") && !sent.contains("00f067aa0ba902b7"))
        await receiver.stop()
        await conn.close()
    }
}

/// One span as an OTLP/HTTP JSON export carries it (ids as hex; swift-protobuf writes bytes as base64).
struct CollectedSpan: Sendable {
    var name: String
    var traceID: String
    var spanID: String
    var parentID: String?
    var kind: Int
    var statusCode: Int
    var service: String?
    var attributes: [String: String]
    /// Span ids of the links.
    var links: [String]

    /// Every span of every export request, by span id.
    static func all(in requests: [TestReceiver.Request]) -> [String: CollectedSpan] {
        var spans: [String: CollectedSpan] = [:]
        for request in requests {
            guard let root = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any] else { continue }
            for resource in root["resourceSpans"] as? [[String: Any]] ?? [] {
                let resourceAttributes = attributes((resource["resource"] as? [String: Any])?["attributes"])
                for scope in resource["scopeSpans"] as? [[String: Any]] ?? [] {
                    for raw in scope["spans"] as? [[String: Any]] ?? [] {
                        guard let id = hex(raw["spanId"]), let trace = hex(raw["traceId"]) else { continue }
                        spans[id] = CollectedSpan(
                            name: raw["name"] as? String ?? "", traceID: trace, spanID: id, parentID: hex(raw["parentSpanId"]),
                            kind: number(raw["kind"]), statusCode: number((raw["status"] as? [String: Any])?["code"]),
                            service: resourceAttributes["service.name"], attributes: attributes(raw["attributes"]),
                            links: (raw["links"] as? [[String: Any]] ?? []).compactMap { hex($0["spanId"]) })
                    }
                }
            }
        }
        return spans
    }

    static func number(_ value: Any?) -> Int { (value as? Int) ?? Int(value as? String ?? "") ?? 0 }

    /// An id as lower-case hex, whether written as hex (the OTLP/JSON spec) or base64 (protobuf's JSON).
    static func hex(_ value: Any?) -> String? {
        guard let text = value as? String, !text.isEmpty else { return nil }
        if text.count == 32 || text.count == 16, text.allSatisfy(\.isHexDigit) { return text.lowercased() }
        guard let bytes = Data(base64Encoded: text) else { return nil }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func attributes(_ value: Any?) -> [String: String] {
        var out: [String: String] = [:]
        for pair in value as? [[String: Any]] ?? [] {
            guard let key = pair["key"] as? String, let typed = pair["value"] as? [String: Any], let (_, v) = typed.first else { continue }
            out[key] = "\(v)"
        }
        return out
    }
}
