import Foundation
import Herald
import HeraldTestSupport
import PGDriver
import Testing

/// The delivery engine end to end: real PostgreSQL, a real HTTP receiver on 127.0.0.1, real `herald
/// worker` processes.
@Suite("Delivery engine")
struct DeliveryEngineTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    func enqueue(_ conn: PGConnection, schema: String, url: String, body: String, maxAttempts: Int? = nil) async throws -> Int64 {
        let id = try await conn.query(
            "SELECT \(unescaped: schema).enqueue(\(url), convert_to(\(body), 'UTF8'), p_max_attempts => \(maxAttempts)::int) AS id"
        ).first?.decode("id", as: Int64.self)
        return try #require(id)
    }

    func state(_ conn: PGConnection, schema: String, id: Int64) async throws -> String {
        try await conn.query("SELECT state FROM \(unescaped: schema).deliveries WHERE id = \(id)").first?.decode("state") ?? "?"
    }

    @Test("1,000 deliveries, 3 worker processes, always 200: each received exactly once, 1,000 attempt rows")
    func thousandDeliveries() async throws {
        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema()
        try await conn.query(
            "SELECT \(unescaped: schema).enqueue(\(receiver.url("/bulk")), convert_to('{\"n\":' || g || '}', 'UTF8')) FROM generate_series(1, 1000) g")
        let workers = try (0..<3).map { _ in try HeraldProcess.worker(pg, schema: schema, ["--concurrency", "4"]) }
        try await Wait.until("1,000 deliveries delivered", timeout: .seconds(120)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'delivered'") == 1000
        }
        for w in workers { w.signal(SIGTERM) }
        for w in workers { #expect(try await w.waitForExit() == 0, "worker output: \(w.output.suffix(2000))") }
        let requests = receiver.requests(path: "/bulk")
        #expect(requests.count == 1000)
        #expect(Set(requests.map(\.key)).count == 1000)
        #expect(Set(requests.map { String(decoding: $0.body, as: UTF8.self) }).count == 1000)
        #expect(receiver.maxOpenPerKey == 1)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).attempts") == 1000)
        #expect(
            try await conn.count(
                "SELECT count(DISTINCT worker_id)::int AS n FROM \(unescaped: schema).attempts") >= 2,
            "the work was shared between processes")
        await receiver.stop()
        await conn.close()
    }

    @Test("500, 500, then 200: three attempts with identical body bytes and idempotency key, valid signatures")
    func retriesReplayTheSameBytes() async throws {
        let receiver = try await TestReceiver.start { _, attempt in attempt < 3 ? .status(500) : .status(200) }
        let (schema, conn) = try await pg.migratedSchema()
        let body = "{\"amount\": 12.50, \"note\": \"ünïcødé ✓\"}"
        let id = try await enqueue(conn, schema: schema, url: receiver.url("/flaky"), body: body)
        let worker = try HeraldProcess.worker(pg, schema: schema, ["--concurrency", "2", "--backoff-base", "1s", "--backoff-factor", "1"])
        try await Wait.until("delivered", timeout: .seconds(30)) { try await state(conn, schema: schema, id: id) == "delivered" }
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit() == 0)
        let requests = receiver.requests(path: "/flaky")
        #expect(requests.count == 3)
        #expect(requests.allSatisfy { $0.body == Array(body.utf8) })
        #expect(Set(requests.map(\.key)).count == 1)
        #expect(requests.allSatisfy { $0.headers["idempotency-key"] == $0.key && $0.key.hasPrefix("msg_") })
        let secret = try #require(
            try await conn.query("SELECT e.secret FROM \(unescaped: schema).endpoints e JOIN \(unescaped: schema).deliveries d ON d.endpoint_id = e.id WHERE d.id = \(id)")
                .first?.decode("secret", as: String.self))
        for r in requests {
            let timestamp = try #require(Int(r.headers["webhook-timestamp"] ?? ""))
            let expected = WebhookSigner.signature(id: r.key, timestamp: timestamp, body: r.body, secret: try WebhookSecret(secret))
            #expect(r.headers["webhook-signature"] == expected)
            #expect(r.headers["user-agent"]?.hasPrefix("Herald/") == true)
        }
        let attempts = try await conn.query(
            "SELECT attempt, status_code, outcome FROM \(unescaped: schema).attempts WHERE delivery_id = \(id) ORDER BY attempt")
        #expect(try attempts.rows.map { try $0.decode("status_code", as: Int.self) } == [500, 500, 200])
        #expect(try attempts.rows.map { try $0.decode("outcome", as: String.self) } == ["retry", "retry", "delivered"])
        #expect(try attempts.rows.map { try $0.decode("attempt", as: Int.self) } == [1, 2, 3])
        await receiver.stop()
        await conn.close()
    }

    @Test("400 fails after one attempt; always-500 with 3 attempts is dead after exactly 3")
    func failedAndDead() async throws {
        let receiver = try await TestReceiver.start { request, _ in request.path == "/bad" ? .status(400, body: "nope") : .status(500) }
        let (schema, conn) = try await pg.migratedSchema()
        let bad = try await enqueue(conn, schema: schema, url: receiver.url("/bad"), body: "{}")
        let down = try await enqueue(conn, schema: schema, url: receiver.url("/down"), body: "{}", maxAttempts: 3)
        let worker = try HeraldProcess.worker(pg, schema: schema, ["--backoff-base", "1s", "--backoff-factor", "1"])
        try await Wait.until("both settled", timeout: .seconds(30)) {
            let a = try await state(conn, schema: schema, id: bad)
            let b = try await state(conn, schema: schema, id: down)
            return a == "failed" && b == "dead"
        }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        #expect(receiver.requests(path: "/bad").count == 1)
        #expect(receiver.requests(path: "/down").count == 3)
        let row = try #require(try await conn.query("SELECT attempts, last_status, last_error FROM \(unescaped: schema).deliveries WHERE id = \(down)").first)
        #expect(try row.decode("attempts", as: Int.self) == 3)
        #expect(try row.decode("last_status", as: Int.self) == 500)
        let excerpt = try await conn.query("SELECT response_excerpt FROM \(unescaped: schema).attempts WHERE delivery_id = \(bad)").first?
            .decode("response_excerpt", as: String?.self)
        #expect(excerpt == "nope")
        await receiver.stop()
        await conn.close()
    }

    @Test("Retry-After: 7 on a 429 schedules the next attempt 7 s after the attempt")
    func retryAfter() async throws {
        let receiver = try await TestReceiver.start { _, _ in .status(429, headers: ["Retry-After": "7"]) }
        let (schema, conn) = try await pg.migratedSchema()
        let id = try await enqueue(conn, schema: schema, url: receiver.url("/busy"), body: "{}")
        let worker = try HeraldProcess.worker(pg, schema: schema)
        try await Wait.until("the first attempt", timeout: .seconds(20)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).attempts WHERE delivery_id = \(id)") == 1
        }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        let row = try #require(
            try await conn.query(
                "SELECT extract(epoch FROM d.next_attempt_at - a.started_at)::float8 AS wait, a.duration_ms, a.next_attempt_at = d.next_attempt_at AS same FROM \(unescaped: schema).deliveries d JOIN \(unescaped: schema).attempts a ON a.delivery_id = d.id WHERE d.id = \(id)"
            ).first)
        // 7 s after the answer: the send's start plus its duration, plus the moment to decide.
        let wait = try row.decode("wait", as: Double.self)
        let sending = Double(try row.decode("duration_ms", as: Int.self)) / 1000
        #expect(wait >= 7 + sending && wait < 7 + sending + 0.5, "waited \(wait)s after a \(sending)s send")
        #expect(try row.decode("same", as: Bool.self))
        #expect(receiver.requests(path: "/busy").count == 1)
        await receiver.stop()
        await conn.close()
    }

    @Test("a worker SIGKILLed while the receiver holds its request: another worker delivers it with the same key")
    func killedMidSend() async throws {
        let receiver = try await TestReceiver.start { _, attempt in attempt == 1 ? .hold : .status(200) }
        let (schema, conn) = try await pg.migratedSchema()
        let body = "{\"survive\": true}"
        let id = try await enqueue(conn, schema: schema, url: receiver.url("/slow"), body: body)
        // A 10 s request timeout: the kill lands before the held send times out (it would then be recorded
        // as a timeout rather than stay interrupted); the next worker waits 10 s + 10 s after it. 4 s was
        // too short on a loaded CI machine: the kill came after the timeout and the attempt read `retry`.
        let first = try HeraldProcess.worker(pg, schema: schema, ["--request-timeout", "10s"])
        try await Wait.until("the receiver to hold the first send") { receiver.heldCount == 1 }
        // The lease is held across the send: the row is locked, and stays pending.
        #expect(try await state(conn, schema: schema, id: id) == "pending")
        first.signal(SIGKILL)
        _ = try await first.waitForExit()
        let second = try HeraldProcess.worker(pg, schema: schema, ["--request-timeout", "10s"])
        try await Wait.until("delivered by the second worker", timeout: .seconds(60)) { try await state(conn, schema: schema, id: id) == "delivered" }
        second.signal(SIGTERM)
        #expect(try await second.waitForExit() == 0)
        let requests = receiver.requests(path: "/slow")
        #expect(requests.count == 2)
        #expect(Set(requests.map(\.key)).count == 1)
        #expect(requests.allSatisfy { $0.body == Array(body.utf8) })
        // The interrupted send is on record (written before the send, on another connection).
        let outcomes = try await conn.query("SELECT outcome FROM \(unescaped: schema).attempts WHERE delivery_id = \(id) ORDER BY id")
        let logged = try outcomes.rows.map { try $0.decode("outcome", as: String.self) }
        #expect(logged == ["unknown", "delivered"], "attempt outcomes: \(logged); second worker: \(second.output.suffix(3000))")
        await receiver.stop()
        await conn.close()
    }

    @Test("an enqueue in a rolled-back transaction leaves nothing; the same event id twice is one delivery")
    func transactionalOutbox() async throws {
        let (schemaName, conn) = try await pg.migratedSchema()
        let schema = try SchemaName(schemaName)
        let queue = WebhookQueue(schema: schema)
        struct Rollback: Error {}
        await #expect(throws: Rollback.self) {
            try await conn.withTransaction { tx in
                try await queue.enqueue(EnqueueRequest(url: "https://example.com/a", body: [1, 2, 3]), on: tx)
                throw Rollback()
            }
        }
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schemaName).deliveries") == 0)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schemaName).endpoints") == 0)
        let request = EnqueueRequest(url: "https://example.com/a", body: Array("{}".utf8), eventType: "invoice.paid", eventID: "evt_1")
        let first = try await conn.withTransaction { try await queue.enqueue(request, on: $0) }
        let again = try await queue.enqueue(request, on: conn)
        #expect(first == again)
        var other = request
        other.eventID = "evt_2"
        #expect(try await queue.enqueue(other, on: conn) != first)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schemaName).deliveries") == 2)
        // The same event id on another URL is another endpoint's event: a separate delivery.
        var elsewhere = request
        elsewhere.url = "https://example.com/b"
        #expect(try await queue.enqueue(elsewhere, on: conn) != first)
        await conn.close()
    }

    @Test("bad input is refused with a clear error, exit 64, and nothing is written", arguments: [
        (["--url", "ftp://example.com/x", "--data", "{}"], "invalid --url"),
        (["--url", "https://user:pw@example.com/x", "--data", "{}"], "user:password"),
        (["--url", "https://example.com/x", "--data", "{}", "--header", "X-A: one\r\ntwo"], "control characters"),
        (["--url", "https://example.com/x", "--data", "{}", "--header", "Webhook-Signature: forged"], "set by Herald"),
        (["--url", "https://example.com/x", "--data", "{}", "--header", "Bad Name: v"], "invalid --header"),
        (["--url", "https://example.com/x", "--data", "0123456789", "--max-body-bytes", "5"], "over the limit"),
        (["--url", "https://example.com/x", "--data", "{}", "--max-attempts", "0"], "--max-attempts"),
    ])
    func refusedInput(_ arguments: [String], _ message: String) async throws {
        let (schema, conn) = try await pg.migratedSchema()
        try await conn.query("SELECT \(unescaped: schema).enqueue('https://example.com/keep', '\\x01'::bytea)")
        let result = try await HeraldBinary.run(["enqueue", "--schema", schema] + arguments, environment: ["DATABASE_URL": pg.url])
        #expect(result.status == 64, "invalid arguments exit 64, whoever notices them: \(result.stderr)")
        #expect(result.stderr.contains(message), "stderr: \(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries") == 1)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'pending'") == 1)
        await conn.close()
    }

    @Test("herald enqueue reads the body inline, from a file and from stdin, byte for byte, and prints the id")
    func enqueueCommand() async throws {
        let (schema, conn) = try await pg.migratedSchema()
        let env = ["DATABASE_URL": pg.url]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("herald-body-\(UUID().uuidString).bin")
        let bytes: [UInt8] = [0xFF, 0x00, 0x7B, 0x0A]
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let inline = try await HeraldBinary.run(["enqueue", "--schema", schema, "--url", "https://example.com/h", "--data", "{\"a\":1}", "--event-type", "t.x", "--header", "X-Tenant: acme"], environment: env)
        let fromFile = try await HeraldBinary.run(["enqueue", "--schema", schema, "--url", "https://example.com/h", "--data", "@\(file.path)", "--content-type", "application/octet-stream"], environment: env)
        let fromStdin = try await HeraldBinary.run(["enqueue", "--schema", schema, "--url", "https://example.com/h", "--data", "-"], environment: env, stdin: Data("piped".utf8))
        for r in [inline, fromFile, fromStdin] { #expect(r.status == 0, "stderr: \(r.stderr)") }
        let ids = [inline, fromFile, fromStdin].compactMap { Int64($0.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(ids.count == 3)
        let bodies = try await conn.query("SELECT id, body, headers::text AS h, event_type FROM \(unescaped: schema).deliveries ORDER BY id")
        #expect(try bodies.rows.map { try $0.decode("body", as: [UInt8].self) } == [Array("{\"a\":1}".utf8), bytes, Array("piped".utf8)])
        #expect(try bodies.rows.map { try $0.decode("id", as: Int64.self) } == ids)
        #expect(try bodies.rows[0].decode("h", as: String.self) == "{\"X-Tenant\": \"acme\"}")
        #expect(try bodies.rows[0].decode("event_type", as: String.self) == "t.x")
        await conn.close()
    }

    @Test("a disabled endpoint's deliveries fail with the reason and are never sent")
    func disabledEndpoint() async throws {
        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema()
        let first = try await enqueue(conn, schema: schema, url: receiver.url("/off"), body: "{}")
        try await conn.query("UPDATE \(unescaped: schema).endpoints SET enabled = false, disabled_reason = 'customer left'")
        let worker = try HeraldProcess.worker(pg, schema: schema)
        try await Wait.until("failed") { try await state(conn, schema: schema, id: first) == "failed" }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        let row = try #require(try await conn.query("SELECT attempts, last_error FROM \(unescaped: schema).deliveries WHERE id = \(first)").first)
        #expect(try row.decode("last_error", as: String.self) == "endpoint disabled: customer left")
        #expect(try row.decode("attempts", as: Int.self) == 0)
        #expect(receiver.requests.isEmpty)
        await receiver.stop()
        await conn.close()
    }

    @Test("SIGTERM lets a send in flight finish and be recorded, then the worker exits 0")
    func gracefulShutdown() async throws {
        let receiver = try await TestReceiver.start { _, _ in .hold }
        let (schema, conn) = try await pg.migratedSchema()
        let id = try await enqueue(conn, schema: schema, url: receiver.url("/finish"), body: "{}")
        let worker = try HeraldProcess.worker(pg, schema: schema)
        try await Wait.until("the send to be in flight") { receiver.heldCount == 1 }
        worker.signal(SIGTERM)
        // Still running: it is waiting for the send in flight.
        try await Wait.until("the worker to acknowledge shutdown") { worker.output.contains("graceful") || worker.output.contains("Shutting") || worker.output.contains("shutdown") }
        #expect(worker.isRunning)
        receiver.releaseHeld(status: 200)
        #expect(try await worker.waitForExit() == 0, "output: \(worker.output.suffix(2000))")
        #expect(try await state(conn, schema: schema, id: id) == "delivered")
        await receiver.stop()
        await conn.close()
    }
}

/// Latency, measured apart from the other suites: `make test` runs this suite on its own after the rest,
/// so a loaded machine running 70 other tests in parallel does not decide the figure.
@Suite("Wake-up latency")
struct WakeupLatencyTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    func enqueue(_ conn: PGConnection, schema: String, url: String, body: String) async throws -> Int64 {
        let id = try await conn.query("SELECT \(unescaped: schema).enqueue(\(url), convert_to(\(body), 'UTF8')) AS id").first?.decode("id", as: Int64.self)
        return try #require(id)
    }

    @Test("an idle worker starts sending within 50 ms of the enqueue's commit (NOTIFY, not polling)")
    func notifyLatency() async throws {
        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema()
        // A 30 s poll interval: only the notification can explain a prompt send.
        let worker = try HeraldProcess.worker(pg, schema: schema, ["--poll-interval", "30s", "--concurrency", "2"])
        try await Wait.until("the worker to be listening") { worker.output.contains("worker started") }
        // Let the listener subscribe, proven by a first delivery that arrives.
        _ = try await enqueue(conn, schema: schema, url: receiver.url("/warm"), body: "{}")
        try await Wait.until("the warm-up delivery", timeout: .seconds(40)) { receiver.requests(path: "/warm").count == 1 }
        var latencies: [Double] = []
        for i in 0..<5 {
            let path = "/n\(i)"
            try await conn.withTransaction { tx in
                _ = try await tx.query("SELECT \(unescaped: schema).enqueue(\(receiver.url(path)), '\\x7b7d'::bytea)")
            }
            let committed = Date()
            try await Wait.until("delivery \(i)", timeout: .seconds(5)) { receiver.requests(path: path).count == 1 }
            latencies.append(receiver.requests(path: path)[0].receivedAt.timeIntervalSince(committed) * 1000)
        }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        let median = latencies.sorted()[2]
        #expect(median < 50, "commit → receiver latencies (ms): \(latencies)")
        await receiver.stop()
        await conn.close()
    }
}
