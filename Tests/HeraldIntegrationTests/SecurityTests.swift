import Foundation
import Herald
import HeraldTestSupport
import PGDriver
import Testing

@Suite("Security: SSRF guard, secrets, bounded excerpts")
struct SecurityTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    @Test("by default a send to loopback is refused after resolution and recorded as a failed attempt")
    func ssrfGuard() async throws {
        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema("sec")
        let literal = try #require(try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/a")), '\\x7b7d'::bytea) AS id").first?.decode("id", as: Int64.self))
        let named = try #require(try await conn.query("SELECT \(unescaped: schema).enqueue(\("http://localhost:\(receiver.port)/b"), '\\x7b7d'::bytea) AS id").first?.decode("id", as: Int64.self))
        let worker = try HeraldProcess.worker(pg, schema: schema, guarded: true)
        try await Wait.until("both refused") {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'failed'") == 2
        }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        #expect(receiver.requests.isEmpty)
        for id in [literal, named] {
            let row = try #require(try await conn.query("SELECT outcome, error, retryable FROM \(unescaped: schema).attempts WHERE delivery_id = \(id)").first)
            #expect(try row.decode("outcome", as: String.self) == "failed")
            #expect(try row.decode("error", as: String.self).contains("loopback address"))
            #expect(try row.decode("error", as: String.self).contains("--allow-private-networks"))
            #expect(try row.decode("retryable", as: Bool.self) == false)
        }
        await receiver.stop()
        await conn.close()
    }

    @Test("endpoint secrets and the database password appear nowhere: logs, attempt rows, deliveries")
    func noSecretsAnywhere() async throws {
        let role = try await pg.passwordRole()
        let secret = "whsec_" + Data((0..<32).map { UInt8($0 + 7) }).base64EncodedString()
        // A hostile endpoint echoes the shared secret and the password back in its error answers.
        let receiver = try await TestReceiver.start { _, _ in
            .status(500, headers: ["X-Leak": secret], body: "secret=\(secret) password=\(role.password) token \(secret)")
        }
        let (schema, conn) = try await pg.migratedSchema("sec")
        try await conn.query("GRANT ALL ON SCHEMA \(unescaped: schema) TO pw_user")
        try await conn.query("GRANT ALL ON ALL TABLES IN SCHEMA \(unescaped: schema) TO pw_user")
        try await conn.query("GRANT ALL ON ALL FUNCTIONS IN SCHEMA \(unescaped: schema) TO pw_user")
        let added = try await HeraldBinary.run(
            ["endpoints", "add", "--url", receiver.url("/leaky"), "--secret", secret, "--schema", schema], environment: ["DATABASE_URL": pg.url])
        #expect(added.status == 0)
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/leaky")), '\\x7b7d'::bytea, p_max_attempts => 2) FROM generate_series(1, 3)")
        var url = try #require(URLComponents(string: pg.url))
        url.user = role.user
        url.password = role.password
        let worker = try HeraldProcess(
            ["worker", "--schema", schema, "--log-level", "trace", "--allow-private-networks", "--backoff-base", "1s", "--backoff-factor", "1", "--breaker-threshold", "100"],
            environment: ["DATABASE_URL": url.string!])
        try await Wait.until("all dead", timeout: .seconds(30)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'dead'") == 3
        }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        let stored = try await conn.query(
            "SELECT coalesce(string_agg(concat_ws(' ', error, response_excerpt, request_headers::text), ' '), '') AS t FROM \(unescaped: schema).attempts"
        ).first?.decode("t", as: String.self) ?? ""
        let lastErrors = try await conn.query("SELECT coalesce(string_agg(last_error, ' '), '') AS t FROM \(unescaped: schema).deliveries").first?.decode("t", as: String.self) ?? ""
        let keyMaterial = String(secret.dropFirst(6))
        for (name, text) in [("worker output", worker.output), ("attempt rows", stored), ("deliveries", lastErrors)] {
            #expect(!text.contains(keyMaterial), "the endpoint secret leaked into \(name)")
            #expect(!text.contains(role.password), "the database password leaked into \(name)")
        }
        #expect(stored.contains("***"), "the echoed secrets were redacted, not dropped silently")
        #expect(!worker.output.isEmpty)
        await receiver.stop()
        await conn.close()
    }

    @Test("a credential header, a signing secret and the database password appear in clear only in their own column")
    func credentialsStayInTheirColumns() async throws {
        let role = try await pg.passwordRole()
        let secret = "whsec_" + Data((0..<32).map { UInt8($0 + 40) }).base64EncodedString()
        let token = "sk_live_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let apiKey = "key_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        // The receiver echoes what it was sent in its first (failing) answer, then accepts.
        let receiver = try await TestReceiver.start { request, attempt in
            attempt == 1
                ? .status(500, body: "got \(request.headers["authorization"] ?? "") and \(request.headers["x-api-key"] ?? "")")
                : .status(200)
        }
        let (schema, conn) = try await pg.migratedSchema("cred")
        for grant in ["SCHEMA", "ALL TABLES IN SCHEMA", "ALL FUNCTIONS IN SCHEMA", "ALL SEQUENCES IN SCHEMA"] {
            try await conn.query(PGQuery(sql: "GRANT ALL ON \(grant) \(schema) TO \(role.user)"))
        }
        var url = try #require(URLComponents(string: pg.url))
        url.user = role.user
        url.password = role.password
        let env = ["DATABASE_URL": url.string!]
        var outputs: [(String, String)] = []
        func cli(_ arguments: [String]) async throws -> HeraldBinary.Result {
            let result = try await HeraldBinary.run(arguments + ["--schema", schema], environment: env)
            outputs.append((arguments.joined(separator: " "), result.stdout + result.stderr))
            return result
        }
        #expect(try await cli(["endpoints", "add", "--url", receiver.url("/cred"), "--secret", secret]).status == 0)
        let enqueued = try await cli([
            "enqueue", "--url", receiver.url("/cred"), "--data", "{}", "--max-attempts", "3",
            "--header", "Authorization: Bearer \(token)", "--header", "X-Api-Key: \(apiKey)",
        ])
        #expect(enqueued.status == 0, "\(enqueued.stderr)")
        outputs.removeAll()  // the commands above were given the values; only what follows must not show them
        let id = enqueued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let worker = try HeraldProcess(
            ["worker", "--schema", schema, "--log-level", "trace", "--allow-private-networks", "--backoff-base", "1s", "--backoff-factor", "1"],
            environment: env)
        try await Wait.until("delivered after one failure", timeout: .seconds(30)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'delivered'") == 1
        }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        #expect(receiver.requests.last?.headers["authorization"] == "Bearer \(token)", "the receiver got the real header")

        for arguments in [
            ["deliveries", "list"], ["deliveries", "list", "--json"], ["deliveries", "show", id], ["deliveries", "show", id, "--json"],
            ["status"], ["status", "--json"], ["endpoints", "list"], ["endpoints", "list", "--json"], ["endpoints", "show", receiver.url("/cred")],
            ["endpoints", "show", receiver.url("/cred"), "--json"], ["breakers", "list"], ["breakers", "list", "--json"],
        ] {
            let result = try await cli(arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
        }
        #expect(outputs.first { $0.0 == "status" }?.1.contains("secrets     stored in clear") == true, "status says secrets are in clear")
        let asked = try await HeraldBinary.run(["endpoints", "show", receiver.url("/cred"), "--show-secret", "--schema", schema], environment: env)
        #expect(asked.stdout.contains(secret), "the one command that asks for the secret shows it")

        // Every table, each row as JSON, without the one column a value belongs to.
        let own: [String: [String]] = ["endpoints": ["secret", "previous_secret"], "deliveries": ["headers"]]
        var tables: [(String, String)] = []
        let names = try await conn.query("SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = \(schema)").rows
        for row in names {
            let table: String = try row.decode("t")
            let minus = (own[table] ?? []).map { " - '\($0)'" }.joined()
            let text = try await conn.query(
                PGQuery(sql: "SELECT coalesce(string_agg((to_jsonb(t)\(minus))::text, ' '), '') AS t FROM \(schema).\(table) t")
            ).first?.decode("t", as: String.self) ?? ""
            tables.append(("table \(table)", text))
        }
        #expect(tables.count >= 6)
        let attempts = tables.first { $0.0 == "table attempts" }?.1 ?? ""
        #expect(attempts.contains("[redacted sha256:"), "the attempt log keeps the header names with a fingerprint")
        for (place, text) in tables + outputs + [("worker log", worker.output)] {
            for (what, value) in [("the bearer token", token), ("the API key", apiKey), ("the signing secret", String(secret.dropFirst(6))), ("the database password", role.password)] {
                #expect(!text.contains(value), "\(what) appears in \(place)")
            }
        }
        await receiver.stop()
        await conn.close()
    }

    @Test("with HERALD_ENCRYPTION_KEY, secrets and headers are sealed at rest, still sent, and rotate-key moves them to a new key")
    func sealedAtRest() async throws {
        let keyOne = Data((0..<32).map { UInt8($0 * 3 % 251) }).base64EncodedString()
        let keyTwo = Data((0..<32).map { UInt8($0 * 7 % 251) }).base64EncodedString()
        let secret = "whsec_" + Data((0..<32).map { UInt8($0 + 90) }).base64EncodedString()
        let token = "sk_live_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema("seal")
        let env = ["DATABASE_URL": pg.url, "HERALD_ENCRYPTION_KEY": keyOne]
        #expect(try await HeraldBinary.run(["endpoints", "add", "--url", receiver.url("/s"), "--secret", secret, "--schema", schema], environment: env).status == 0)
        let sealedAtWrite = try await conn.query("SELECT secret FROM \(unescaped: schema).endpoints").first?.decode("secret", as: String.self) ?? ""
        #expect(sealedAtWrite.hasPrefix("sealed:v1:k"), "endpoints add seals at write")
        // A producer enqueues in clear through SQL; an endpoint created by enqueue gets a clear secret too.
        try await conn.query(
            "SELECT \(unescaped: schema).enqueue(\(receiver.url("/s")), '\\x7b7d'::bytea, p_headers => \(PGJSON(text: #"{"Authorization": "Bearer \#(token)"}"#))::jsonb)")
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/other")), '\\x7b7d'::bytea)")
        let worker = try HeraldProcess(["worker", "--schema", schema, "--allow-private-networks"], environment: env)
        try await Wait.until("both delivered and every value sealed", timeout: .seconds(30)) {
            try await conn.count(
                """
                SELECT (SELECT count(*) FROM \(unescaped: schema).deliveries WHERE state = 'delivered')::int * 10
                     + (SELECT count(*) FROM \(unescaped: schema).endpoints WHERE secret NOT LIKE 'sealed:v1:%')::int
                     + (SELECT count(*) FROM \(unescaped: schema).deliveries WHERE headers <> '{}' AND NOT headers ? '(sealed)')::int AS n
                """) == 20
        }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        let sent = try #require(receiver.requests(path: "/s").first)
        #expect(sent.headers["authorization"] == "Bearer \(token)", "the worker opened the sealed headers to send them")
        let signature = try WebhookSecret(secret)
        let expected = WebhookSigner.header(id: sent.key, timestamp: Int(sent.headers["webhook-timestamp"] ?? "") ?? 0, body: sent.body, secrets: [signature])
        #expect(sent.headers["webhook-signature"] == expected, "signed with the secret in clear")
        // Nothing in clear anywhere, own columns included.
        let dump = try await conn.query(
            """
            SELECT concat_ws(' ', (SELECT string_agg(to_jsonb(e)::text, ' ') FROM \(unescaped: schema).endpoints e),
                                  (SELECT string_agg(to_jsonb(d)::text, ' ') FROM \(unescaped: schema).deliveries d),
                                  (SELECT string_agg(to_jsonb(a)::text, ' ') FROM \(unescaped: schema).attempts a)) AS t
            """
        ).first?.decode("t", as: String.self) ?? ""
        #expect(!dump.contains(token) && !dump.contains(String(secret.dropFirst(6))), "a value is stored in clear")
        let status = try await HeraldBinary.run(["status", "--schema", schema], environment: env)
        #expect(status.stdout.contains("secrets     sealed with key k"), "\(status.stdout)")
        let shown = try await HeraldBinary.run(["endpoints", "show", receiver.url("/s"), "--show-secret", "--schema", schema], environment: env)
        #expect(shown.stdout.contains(secret), "the one command that asks for the secret opens it")
        let clearStatus = try await HeraldBinary.run(["status", "--schema", schema], environment: ["DATABASE_URL": pg.url])
        #expect(clearStatus.stdout.contains("need the key"), "\(clearStatus.stdout)")

        // Rotation: the new key first, the old one after; then everything opens with the new key alone.
        let rotated = try await HeraldBinary.run(
            ["secrets", "rotate-key", "--batch-size", "1", "--schema", schema], environment: ["DATABASE_URL": pg.url, "HERALD_ENCRYPTION_KEY": "\(keyTwo),\(keyOne)"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(rotated.stdout.contains("sealed 3 value(s)"), "\(rotated.stdout)")  // two secrets and one set of headers
        let newOnly = ["DATABASE_URL": pg.url, "HERALD_ENCRYPTION_KEY": keyTwo]
        let after = try await HeraldBinary.run(["endpoints", "show", receiver.url("/s"), "--show-secret", "--schema", schema], environment: newOnly)
        #expect(after.stdout.contains(secret), "\(after.stderr)")
        let newStatus = try await HeraldBinary.run(["status", "--schema", schema], environment: newOnly)
        #expect(!newStatus.stdout.contains("rotate-key"), "nothing left under the old key: \(newStatus.stdout)")
        await receiver.stop()
        await conn.close()
    }

    @Test("a huge response is read only up to the cap and stored as a bounded excerpt")
    func boundedExcerpts() async throws {
        let huge = String(repeating: "x", count: 8 * 1024 * 1024)
        let receiver = try await TestReceiver.start { _, _ in .status(500, body: huge) }
        let (schema, conn) = try await pg.migratedSchema("sec")
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/huge")), '\\x7b7d'::bytea, p_max_attempts => 1)")
        let worker = try HeraldProcess.worker(pg, schema: schema)
        try await Wait.until("dead", timeout: .seconds(30)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'dead'") == 1
        }
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        let length = try await conn.count("SELECT length(response_excerpt)::int AS n FROM \(unescaped: schema).attempts")
        #expect(length > 0 && length <= 1024)
        await receiver.stop()
        await conn.close()
    }
}

@Suite("Malformed input to every command")
struct MalformedInputTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    @Test("negative, zero and enormous limits and unsafe names are refused with exit 64 and a message", arguments: [
        (["worker", "--concurrency", "0"], "concurrency"),
        (["worker", "--concurrency", "100000"], "concurrency"),
        (["worker", "--batch-size", "-3"], "batch"),
        (["worker", "--max-attempts", "51"], "max attempts"),
        (["worker", "--backoff-base", "100ms"], "backoff base"),
        (["worker", "--request-timeout", "forever"], "--request-timeout"),
        (["worker", "--breaker-threshold", "0"], "breaker threshold"),
        (["worker", "--metrics-port", "70000"], "--metrics-port"),
        (["deliveries", "list", "--limit", "0"], "--limit"),
        (["deliveries", "list", "--since", "-5m"], "--since"),
        (["prune", "--older-than", "30d", "--batch-size", "-1"], "--batch-size"),
        (["enqueue", "--url", "https://x.example/h", "--data", "{}", "--max-body-bytes", "-5"], "--max-body-bytes"),
        (["enqueue", "--url", "https://x.example/h", "--data", "{}", "--header", "no colon here"], "--header"),
        (["status", "--schema", "Robert'); DROP TABLE students;--"], "invalid schema name"),
        (["breakers", "--log-format", "xml"], "--log-format"),
    ])
    func refused(_ arguments: [String], _ words: String) async throws {
        let result = try await HeraldBinary.run(arguments, environment: ["DATABASE_URL": pg.url])
        #expect(result.status == 64, "\(arguments): \(result.stderr)")
        #expect(result.stderr.contains(words), "\(arguments): \(result.stderr)")
    }

    @Test("absurd URLs and invalid text are refused by the SQL function itself, and nothing is written")
    func sqlFunction() async throws {
        let (schema, conn) = try await pg.migratedSchema("bad")
        let urls = ["", "http://", "javascript:alert(1)", "http://exa mple.com/", "https://" + String(repeating: "a", count: 3000) + ".com/",
                    "http://host/\u{7}bell", "file:///etc/passwd"]
        for url in urls {
            let error = await #expect(throws: PGError.self) {
                try await conn.query("SELECT \(unescaped: schema).enqueue(\(url), '\\x7b7d'::bytea)")
            }
            #expect(error?.sqlState == "22023", "\(url.prefix(40)): \(String(describing: error))")
        }
        await #expect(throws: PGError.self) {
            try await conn.query("SELECT \(unescaped: schema).enqueue('https://x.example/h', '\\x7b7d'::bytea, p_headers => '[1, 2]'::jsonb)")
        }
        await #expect(throws: PGError.self) {
            try await conn.query("SELECT \(unescaped: schema).enqueue('https://x.example/h', NULL)")
        }
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries") == 0)
        await conn.close()
    }

    @Test("a response body with NUL bytes is recorded (as U+FFFD) and the delivery retried, not stuck")
    func nulInResponse() async throws {
        let receiver = try await TestReceiver.start { _, _ in .status(500, body: "bin\u{0}ary\u{0}") }
        let (schema, conn) = try await pg.migratedSchema("bad")
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/nul")), '\\x7b7d'::bytea, p_max_attempts => 2)")
        let worker = try HeraldProcess.worker(pg, schema: schema, ["--backoff-base", "1s", "--backoff-factor", "1"])
        try await Wait.until("both attempts to be recorded and the delivery to fail", timeout: .seconds(30)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state = 'dead'") == 1
        }
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit() == 0)
        let rows = try await conn.query("SELECT outcome, response_excerpt FROM \(unescaped: schema).attempts ORDER BY id").rows
        #expect(try rows.map { try $0.decode("outcome", as: String.self) } == ["retry", "dead"])
        #expect(try rows.first?.decode("response_excerpt", as: String.self) == "bin\u{FFFD}ary\u{FFFD}")
        await receiver.stop()
        await conn.close()
    }

    @Test("a header flood in a response is survived and stored bounded")
    func headerFlood() async throws {
        var headers: [String: String] = [:]
        for i in 0..<2000 { headers["X-Flood-\(i)"] = String(repeating: "v", count: 100) }
        let flood = headers
        let receiver = try await TestReceiver.start { _, _ in .status(503, headers: flood, body: "busy") }
        let (schema, conn) = try await pg.migratedSchema("bad")
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/flood")), '\\x7b7d'::bytea, p_max_attempts => 1)")
        let worker = try HeraldProcess.worker(pg, schema: schema)
        try await Wait.until("the attempt to be recorded", timeout: .seconds(30)) {
            try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries WHERE state <> 'pending'") == 1
        }
        worker.signal(SIGTERM)
        #expect(try await worker.waitForExit() == 0, "the worker survived")
        let row = try #require(try await conn.query("SELECT length(coalesce(error, '')) + length(coalesce(response_excerpt, '')) AS n FROM \(unescaped: schema).attempts").first)
        #expect(try row.decode("n", as: Int.self) <= 2048)
        await receiver.stop()
        await conn.close()
    }
}
