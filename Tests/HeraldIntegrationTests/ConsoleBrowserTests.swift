import Foundation
import HeraldTestSupport
import Testing

/// The console in a real browser (issue #14): headless Chromium, driven by selenium through
/// Tests/Browser/console_walk.py, signs in, finds the dead letter, opens each page and clicks Replay; the
/// delivery must then be pending in the database. Screenshots of each page are written to
/// `.build/console-screenshots/` for review (the paths are printed).
///
/// Never skipped: without chromium, chromedriver or selenium it fails saying how to install them.
@Suite("Console in a browser")
struct ConsoleBrowserTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("sign in, see the dead letter, open every page, replay: the delivery is pending again")
    func walk() async throws {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] where !FileManager.default.isExecutableFile(atPath: tool) {
            Issue.record("\(tool) is missing: run scripts/install-deps.sh --test (apt-get install chromium chromium-driver)")
            return
        }
        let selenium = try await Self.run("/usr/bin/env", ["python3", "-c", "import selenium"])
        guard selenium.status == 0 else {
            Issue.record("python3 cannot import selenium: run scripts/install-deps.sh --test (python3 -m pip install selenium): \(selenium.output)")
            return
        }
        let f = try await ConsoleFixture.start()
        try await Self.seedForScreenshots(f)
        let out = Self.repository.appendingPathComponent(".build/console-screenshots").path
        let script = Self.repository.appendingPathComponent("Tests/Browser/console_walk.py").path
        let walk = try await Self.run(
            "/usr/bin/env",
            // coreutils' timeout: a browser that hangs fails the test after 3 minutes instead of stalling the run.
            ["timeout", "180", "python3", script, "--base", "http://127.0.0.1:\(f.api.server.port)", "--token", f.api.admin, "--delivery", String(f.dead.delivery),
             "--out", out])
        print(walk.output)
        #expect(walk.status == 0, "console_walk.py: \(walk.output)\nserver: \(f.api.server.process.output.suffix(3000))")
        #expect(try await f.state(f.dead.delivery) == "pending", "Replay in the browser made the delivery pending")
        for page in ["1-sign-in", "2-dead-letters", "3-delivery-timeline", "4-endpoint-health", "5-after-replay"] {
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(page).png"), "screenshot \(page)")
        }
        #expect(!walk.output.contains(f.api.admin), "the token is never printed")
    }

    /// A busier picture than the fixture's for the screenshots: a second acme endpoint (with a token in its
    /// URL, which the console shows redacted) whose last hour has deliveries and failures, and an open
    /// breaker.
    static func seedForScreenshots(_ f: ConsoleFixture) async throws {
        let api = f.api.api
        let made = try await api.send(
            "POST", "/v1/applications/acme/endpoints", token: f.api.admin, json: ["url": "https://hooks.acme.example/v2/events?token=s3cr3t"])
        guard made.status == 201, let endpoint = (made.json["id"] as? NSNumber)?.int64Value else { throw TestSupportError("endpoint: \(made)") }
        for (n, type) in ["order.created", "order.shipped", "invoice.paid", "order.created", "invoice.overdue", "order.refunded"].enumerated() {
            let published = try await api.send(
                "POST", "/v1/applications/acme/messages", token: f.api.admin, json: ["eventType": type, "payload": ["n": n]],
                headers: ["Idempotency-Key": "shot-\(n)-\(UUID().uuidString)"])
            guard published.status == 202 else { throw TestSupportError("publish: \(published)") }
        }
        let schema = f.api.schema
        let conn = f.api.connection
        let ids = try await conn.query(
            "SELECT id FROM \(unescaped: schema).deliveries WHERE endpoint_id = \(endpoint) ORDER BY id").rows.map { try $0.decode("id", as: Int64.self) }
        for (i, id) in ids.enumerated() {
            let dead = i % 3 == 1
            let tries = dead ? 3 : 1
            for n in 1...tries {
                try await conn.query(
                    """
                    INSERT INTO \(unescaped: schema).attempts
                        (delivery_id, attempt, worker_id, started_at, duration_ms, status_code, response_excerpt, error, retryable, outcome)
                    VALUES (\(id), \(n), 'worker-7f3a', now() - make_interval(mins => \(40 - 5 * i - n)), \(dead ? 2_900 + 150 * n : 40 + 9 * i),
                            \(dead ? 502 : 200), \(dead ? #"{"error":"upstream timeout"}"# : "ok"), \(dead ? "HTTP 502" : nil as String?), \(dead),
                            \(dead ? (n == tries ? "dead" : "retry") : "delivered"))
                    """)
            }
            try await conn.query(
                """
                UPDATE \(unescaped: schema).deliveries SET state = \(dead ? "dead" : "delivered"), attempts = \(tries), finished_at = now(),
                       last_status = \(dead ? 502 : 200), last_error = \(dead ? "HTTP 502: upstream timeout" : nil as String?) WHERE id = \(id)
                """)
        }
        try await conn.query(
            """
            INSERT INTO \(unescaped: schema).circuit_breakers (key, state, consecutive_failures, trips, opened_at, open_until)
            VALUES ('endpoint:' || \(f.dead.endpoint)::text, 'open', 5, 1, now(), now() + interval '5 minutes')
            ON CONFLICT (key) DO UPDATE SET state = 'open', open_until = now() + interval '5 minutes'
            """)
    }

    /// Runs a command on a thread of its own: the walk takes seconds, too long to hold a cooperative thread.
    static func run(_ executable: String, _ arguments: [String]) async throws -> Shell.Output {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try Shell.run(executable, arguments) })
            }
        }
    }
}
