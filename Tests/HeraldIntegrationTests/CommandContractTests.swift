import Foundation
import HeraldTestSupport
import PGDriver
import Testing

/// The rules every `herald` command keeps, checked table-driven over every command: exit 64 for invalid
/// arguments, "run `herald migrate`" on an unmigrated schema, `--json` objects with every key, and an
/// example in every `--help`.
@Suite("Command contract")
struct CommandContractTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    func herald(_ arguments: [String], schema: String? = nil, environment: [String: String] = [:]) async throws -> HeraldBinary.Result {
        try await HeraldBinary.run(
            arguments + (schema.map { ["--schema", $0] } ?? []), environment: ["DATABASE_URL": pg.url].merging(environment) { $1 })
    }

    /// Every command that uses the database, with arguments it would accept on a migrated schema.
    static let databaseCommands: [[String]] = [
        ["status"], ["deliveries", "list"], ["deliveries", "show", "1"], ["deliveries", "replay", "1"], ["deliveries", "cancel", "1"],
        ["endpoints", "add", "--url", "https://example.com/c"], ["endpoints", "list"], ["endpoints", "show", "1"],
        ["endpoints", "disable", "1", "--reason", "x"], ["endpoints", "enable", "1"], ["endpoints", "rotate-secret", "1"],
        ["breakers"], ["breakers", "reset", "endpoint:1"], ["prune", "--older-than", "30d"],
        ["enqueue", "--url", "https://example.com/c", "--data", "{}"], ["worker", "--allow-private-networks"], ["workers"],
        ["publish", "--app", "a1", "--type", "t.x", "--data", "{}"], ["applications", "add", "a1"], ["applications", "list"],
        ["applications", "show", "a1"], ["applications", "set", "a1", "--name", "x"], ["messages", "list"], ["messages", "show", "1"],
        ["messages", "replay", "1"], ["deliveries", "retry-now", "1"], ["endpoints", "set", "1", "--types", "all"],
        ["endpoints", "list", "--app", "a1"], ["deliveries", "list", "--app", "a1"], ["status", "--app", "a1"],
        ["tokens", "create", "--admin"], ["tokens", "list"], ["tokens", "revoke", "abcdefgh"], ["serve", "--port", "0"],
        ["endpoints", "test", "1"], ["endpoints", "delete", "1"],
    ]

    @Test("on a schema never migrated, every command says run `herald migrate` in one line, exit 1", arguments: databaseCommands)
    func unmigrated(_ command: [String]) async throws {
        let result = try await herald(command, schema: TestPostgres.uniqueSchema("never"))
        #expect(result.status == 1, "\(command): \(result.status) \(result.stderr)")
        #expect(result.stderr.contains("herald migrate"), "\(command): \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(command): \(result.stderr)")
    }

    @Test("migrate --status on a schema never migrated lists every migration pending, aligned, exit 0")
    func statusOfNothing() async throws {
        let result = try await herald(["migrate", "--status"], schema: TestPostgres.uniqueSchema("never"))
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("STATE    MIGRATION") == true, "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("pending  0001_initial") }, "\(result.stdout)")
        #expect(result.stdout.contains(" 0 applied, "), "\(result.stdout)")
    }

    /// Invalid arguments for each command; all exit 64 (the database is reachable, so nothing else fails).
    static let invalidArguments: [[String]] = [
        [], ["stauts"], ["status", "--bogus"], ["status", "--log-format", "xml"], ["migrate", "--json"],
        ["deliveries", "list", "--limit", "0"], ["deliveries", "list", "--since", "90"], ["deliveries", "show", "abc"],
        ["deliveries", "replay"], ["deliveries", "replay", "--state", "delivered"], ["deliveries", "cancel"],
        ["endpoints", "add"], ["endpoints", "add", "--url", "ftp://x"], ["endpoints", "add", "--url", "https://a/", "--max-attempts", "0"],
        ["endpoints", "show"], ["endpoints", "disable", "1", "--reason", " "], ["endpoints", "rotate-secret", "1", "--grace", "0s"],
        ["breakers", "reset"], ["prune", "--older-than", "90"], ["prune", "--older-than", "30d", "--batch-size", "0"],
        ["enqueue", "--url", "http://:80/", "--data", "{}"], ["enqueue", "--url", "https://a/", "--data", "{}", "--max-attempts", "0"],
        ["enqueue", "--url", "https://a/", "--data", "{}", "--header", ": v"], ["worker", "--concurrency", "0"],
        ["worker", "--poll-interval", "1"], ["worker", "--heartbeat-interval", "50ms"], ["worker", "--heartbeat-interval", "5"],
        ["worker", "--wakeup-coalescing", "1s"], ["workers", "--bogus"],
        ["publish", "--type", "t", "--data", "{}"], ["publish", "--app", "a", "--data", "{}"],
        ["publish", "--app", "a", "--type", "t", "--data", "{}", "--data-file", "x.json"],
        ["publish", "--app", "a", "--type", "t", "--data", "{}", "--header", "nocolon"],
        ["applications", "add"], ["applications", "add", "a", "--retention", "36500d"], ["applications", "add", "a", "--retention", "36h"],
        ["applications", "set", "a"], ["applications", "set", "a", "--retention", "30"], ["messages", "list", "--limit", "0"],
        ["messages", "show", "abc"], ["deliveries", "retry-now"], ["deliveries", "retry-now", "--app", "a", "--state", "dead"],
        ["endpoints", "set", "1"], ["endpoints", "set", "1", "--timeout", "10m"], ["endpoints", "set", "1", "--backoff-base", "500ms"],
        ["endpoints", "set", "1", "--backoff-base", "1m", "--backoff-cap", "10s"], ["endpoints", "set", "1", "--max-attempts", "51"],
        ["endpoints", "set", "1", "--header", "X-A: 1", "--remove-header", "x-a"], ["endpoints", "set", "1", "--types", ","],
        ["endpoints", "add", "--url", "https://a/", "--timeout", "50ms"], ["endpoints", "add", "--url", "https://a/", "--channels", ""],
        ["endpoints", "enable", "1", "--replay-since", "yesterday"], ["endpoints", "enable", "1", "--replay-since", "2026-13-45T00:00:00Z"],
        ["prune", "--older-than", "30d", "--payloads-older-than", "7"],
        ["tokens", "create"], ["tokens", "create", "--admin", "--app", "a"], ["tokens", "create", "--admin", "--expires", "90"],
        ["tokens", "revoke"], ["serve", "--port", "70000"], ["serve", "--pool-size", "0"], ["serve", "--shutdown-grace", "5"],
        ["serve", "--tls-cert", "/tmp/cert.pem"], ["endpoints", "delete"], ["endpoints", "test"],
    ]

    @Test("invalid arguments exit 64 on every command", arguments: invalidArguments)
    func invalid(_ command: [String]) async throws {
        let result = try await herald(command)
        #expect(result.status == 64, "\(command): \(result.status) \(result.stderr)")
    }

    @Test("HERALD_ALLOW_PRIVATE_NETWORKS: other spellings are refused (64); true turns the guard off and the startup line says so")
    func privateNetworksVariable() async throws {
        let refused = try await herald(["worker"], environment: ["HERALD_ALLOW_PRIVATE_NETWORKS": "maybe"])
        #expect(refused.status == 64, "\(refused.stderr)")
        #expect(refused.stderr.contains("HERALD_ALLOW_PRIVATE_NETWORKS"))
        let (schema, conn) = try await pg.migratedSchema("ctr")
        for (value, guardState) in [("TRUE", "off"), ("yes", "off"), ("0", "on")] {
            let worker = try HeraldProcess(
                ["worker", "--schema", schema, "--log-format", "json"],
                environment: ["DATABASE_URL": pg.url, "HERALD_ALLOW_PRIVATE_NETWORKS": value])
            try await Wait.until("the startup line") { worker.output.contains("worker started") }
            #expect(worker.output.contains("\"ssrf_guard\":\"\(guardState)\""), "\(value): \(worker.output)")
            worker.signal(SIGTERM)
            _ = try await worker.waitForExit()
        }
        await conn.close()
    }

    @Test("a mysql:// URL is refused as not a PostgreSQL URL, naming the setting and never the password")
    func notPostgres() async throws {
        let flag = try await HeraldBinary.run(["status", "--database-url", "mysql://root:hunter2@db/app"])
        #expect(flag.status == 64)
        #expect(flag.stderr.contains("--database-url is not a PostgreSQL URL"), "\(flag.stderr)")
        #expect(!flag.stderr.contains("hunter2"))
        let env = try await HeraldBinary.run(["status"], environment: ["DATABASE_URL": "mysql://root:hunter2@db/app"])
        #expect(env.status == 64)
        #expect(env.stderr.contains("DATABASE_URL is not a PostgreSQL URL"), "\(env.stderr)")
    }

    @Test("a mistyped command gets a suggestion and exit 64; bare herald prints help and exits 64")
    func mistypedAndBare() async throws {
        let typo = try await HeraldBinary.run(["stauts"])
        #expect(typo.status == 64)
        #expect(typo.stderr.contains("did you mean `herald status`"), "\(typo.stderr)")
        let bare = try await HeraldBinary.run([])
        #expect(bare.status == 64)
        #expect(bare.stdout.contains("SUBCOMMANDS"), "\(bare.stdout)")
    }

    @Test("global options may come before the command")
    func globalOptionsFirst() async throws {
        let (schema, conn) = try await pg.migratedSchema("ctr")
        let result = try await HeraldBinary.run(["--schema", schema, "status", "--json"], environment: ["DATABASE_URL": pg.url])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"due\""))
        await conn.close()
    }

    @Test("--json output carries every key, null when empty, on every command that prints data")
    func jsonKeys() async throws {
        let (schema, conn) = try await pg.migratedSchema("ctr")
        let added = try await herald(["endpoints", "add", "--url", "https://example.com/j", "--json"], schema: schema)
        #expect(added.status == 0, "\(added.stderr)")
        try Self.expectKeys(added.stdout, ["id", "application_id", "url", "secret"], "endpoints add")
        let enqueued = try await herald(["enqueue", "--url", "https://example.com/j", "--data", "{}", "--json"], schema: schema)
        try Self.expectKeys(enqueued.stdout, ["id", "duplicate", "endpoint_id", "endpoint_disabled_reason"], "enqueue")
        let id = try #require(try await conn.query("SELECT max(id) AS id FROM \(unescaped: schema).deliveries").first?.decode("id", as: Int64.self))
        try await conn.query(
            "INSERT INTO \(unescaped: schema).attempts (delivery_id, attempt, worker_id, started_at, outcome) VALUES (\(id), 1, 'w', now(), 'unknown')")
        try await conn.query("INSERT INTO \(unescaped: schema).circuit_breakers (key) VALUES ('endpoint:1')")
        try await conn.query(
            "INSERT INTO \(unescaped: schema).worker_heartbeats (worker_id, host, pid, version, slots, heartbeat_interval_ms) VALUES ('w', 'h', 1, '0', 2, 5000)")

        let delivery = ["id", "state", "application_id", "endpoint_id", "message_id", "url", "event_type", "event_id", "idempotency_key",
                        "attempts", "next_attempt_at", "last_status", "last_error", "created_at", "finished_at", "payload_pruned"]
        let endpoint = ["id", "application_id", "url", "description", "enabled", "disabled_reason", "disabled_at", "failing_since",
                        "event_types", "channels", "header_names", "headers_sealed", "request_timeout_ms", "max_attempts", "backoff_base_ms",
                        "backoff_cap_ms", "breaker_key", "pending", "previous_secret_expires_at", "created_at", "secret", "max_in_flight",
                        "rate_limit_per_minute", "ordered"]
        let application = ["id", "name", "retention_days", "endpoints", "enabled_endpoints", "messages", "created_at", "updated_at"]
        let message = ["id", "application_id", "event_type", "event_id", "channels", "content_type", "size_bytes", "payload_pruned_at",
                       "deliveries", "created_at"]
        let appEndpoint = try await herald(["endpoints", "add", "--app", "json_app", "--url", "https://example.com/j"], schema: schema)
        #expect(appEndpoint.status == 0, "\(appEndpoint.stderr)")
        let published = try await herald(
            ["publish", "--app", "json_app", "--type", "t.x", "--data", "{}", "--json"], schema: schema)
        #expect(published.status == 0, "\(published.stderr)")
        try Self.expectKeys(published.stdout, ["message_id", "duplicate", "queued"], "publish")
        let messageID = try #require(try await conn.query("SELECT max(id) AS id FROM \(unescaped: schema).messages").first?.decode("id", as: Int64.self))
        let added2 = try await herald(["applications", "add", "json_app2", "--retention", "7d", "--json"], schema: schema)
        #expect(added2.status == 0, "\(added2.stderr)")
        try Self.expectKeys(added2.stdout, application, "applications add")
        let change = ["changed", "not_found", "skipped"]
        let table: [([String], [String])] = [
            (["status", "--json"], ["states", "states_estimated", "lag_seconds", "due", "delivered_per_minute", "attempts_per_minute", "open_breakers",
                                "live_workers"]),
            (["deliveries", "list", "--json"], delivery),
            (["endpoints", "list", "--json"], endpoint),
            (["endpoints", "show", "1", "--json"], endpoint),
            (["endpoints", "set", "1", "--max-in-flight", "4", "--json"], endpoint),
            (["breakers", "--json"], ["key", "state", "consecutive_failures", "trips", "open_until", "total_successes", "total_failures",
                                      "pending_deliveries", "last_transition", "updated_at"]),
            (["migrate", "--status", "--json"], ["schema", "migrations"]),
            (["workers", "--json"], ["worker_id", "state", "host", "pid", "version", "slots", "sends_in_flight", "started_at", "last_send_at",
                                     "last_heartbeat_at", "heartbeat_interval_ms", "silent_for_seconds", "stopped_at"]),
            (["prune", "--older-than", "30d", "--dry-run", "--json"], ["deliveries", "total_deliveries", "oldest_finished_at",
                                                                      "newest_finished_at", "breaker_events", "messages", "payloads"]),
            (["prune", "--older-than", "30d", "--json"], ["deliveries", "breaker_events", "workers", "messages", "message_payloads",
                                                         "delivery_bodies"]),
            (["prune", "--older-than", "30d", "--payloads-older-than", "30d", "--json"],
             ["deliveries", "breaker_events", "workers", "messages", "message_payloads", "delivery_bodies"]),
            (["status", "--app", "default", "--json"], ["states", "states_estimated", "lag_seconds", "due", "delivered_per_minute", "attempts_per_minute",
                                                        "open_breakers", "live_workers"]),
            (["applications", "list", "--json"], application),
            (["applications", "show", "json_app", "--json"], application),
            (["applications", "set", "json_app", "--retention", "none", "--json"], application),
            (["messages", "list", "--json"], message),
            (["messages", "list", "--app", "json_app", "--type", "t.x", "--json"], message),
            (["endpoints", "list", "--app", "default", "--json"], endpoint),
            (["endpoints", "set", "1", "--types", "a.*", "--timeout", "5s", "--json"], endpoint),
            (["deliveries", "list", "--app", "default", "--json"], delivery),
            (["deliveries", "retry-now", String(id), "--json"], change),
            (["messages", "replay", String(messageID), "--json"], change),
            (["endpoints", "enable", "1", "--replay-since", "1h", "--json"], ["endpoint_id", "changed", "replayed", "skipped"]),
            (["endpoints", "rotate-secret", "1", "--json"], ["secret", "previous_secret_signs_until"]),
            (["deliveries", "replay", String(id), "--json"], change),
            (["deliveries", "cancel", String(id), "--json"], change),
        ]
        for (command, keys) in table {
            let result = try await herald(command, schema: schema)
            #expect(result.status == 0, "\(command): \(result.stderr)")
            try Self.expectKeys(result.stdout, keys, command.joined(separator: " "))
        }
        let shown = try await herald(["deliveries", "show", String(id), "--json"], schema: schema)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["delivery", "attempts", "events"])
        #expect(Set((object["delivery"] as? [String: Any] ?? [:]).keys) == Set(delivery))
        let event = try #require((object["events"] as? [[String: Any]])?.first, "the replay and cancel above are events")
        #expect(Set(event.keys) == ["at", "what", "from_state", "ended_at", "actor"])
        let attempt = try #require((object["attempts"] as? [[String: Any]])?.first)
        #expect(Set(attempt.keys) == ["attempt", "started_at", "duration_ms", "status_code", "outcome", "error", "response_excerpt",
                                      "worker_id", "next_attempt_at"])
        #expect(attempt["duration_ms"] is NSNull, "an interrupted attempt has a null duration, not a missing one")
        let shownMessage = try await herald(["messages", "show", String(messageID), "--json"], schema: schema)
        let messageObject = try #require(try JSONSerialization.jsonObject(with: Data(shownMessage.stdout.utf8)) as? [String: Any])
        #expect(Set(messageObject.keys) == ["message", "deliveries"])
        #expect(Set((messageObject["message"] as? [String: Any] ?? [:]).keys) == Set(message))
        let fannedOut = try #require((messageObject["deliveries"] as? [[String: Any]])?.first, "json_app has an endpoint")
        #expect(Set(fannedOut.keys) == ["delivery_id", "endpoint_id", "url", "state", "attempts", "last_status", "last_error", "finished_at"])
        await conn.close()
    }

    /// `text` is a JSON object (or a non-empty array of objects) with exactly `keys`.
    static func expectKeys(_ text: String, _ keys: [String], _ what: String) throws {
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
        let objects = (value as? [[String: Any]]) ?? [value as? [String: Any]].compactMap { $0 }
        #expect(!objects.isEmpty, "\(what): \(text)")
        for object in objects {
            #expect(Set(object.keys) == Set(keys), "\(what): \(object.keys.sorted()) vs \(keys.sorted())")
        }
    }

    /// Every command path, for the --help check.
    static let commandPaths: [[String]] = [
        [], ["migrate"], ["enqueue"], ["worker"], ["status"], ["deliveries"], ["deliveries", "list"], ["deliveries", "show"],
        ["deliveries", "replay"], ["deliveries", "cancel"], ["endpoints"], ["endpoints", "add"], ["endpoints", "list"],
        ["endpoints", "show"], ["endpoints", "set"], ["endpoints", "disable"], ["endpoints", "enable"], ["endpoints", "rotate-secret"], ["breakers"],
        ["breakers", "list"], ["breakers", "reset"], ["prune"], ["workers"], ["publish"], ["applications"], ["applications", "add"],
        ["applications", "list"], ["applications", "show"], ["applications", "set"], ["messages"], ["messages", "list"], ["messages", "show"],
        ["messages", "replay"], ["deliveries", "retry-now"], ["serve"], ["tokens"], ["tokens", "create"], ["tokens", "list"],
        ["tokens", "revoke"], ["endpoints", "test"], ["endpoints", "delete"],
    ]

    @Test("every --help shows an example", arguments: commandPaths)
    func helpHasExamples(_ path: [String]) async throws {
        let result = try await HeraldBinary.run(path + ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Example"), "herald \(path.joined(separator: " ")) --help has no example")
        #expect(result.stdout.contains("herald \(path.joined(separator: " "))"), "\(path)")
    }
}
