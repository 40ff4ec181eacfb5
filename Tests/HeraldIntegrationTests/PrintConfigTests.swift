import Foundation
import HeraldTestSupport
import Testing

/// `herald worker --print-config` as operators run it: the real binary, settings from a flag, the
/// environment and a file at once, and no database (it never connects).
@Suite("Worker --print-config")
struct PrintConfigTests {
    static func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("herald-\(UUID().uuidString).toml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The process environment without HERALD_ or DATABASE_URL settings a developer may have exported.
    static let clean: [String: String] = Dictionary(uniqueKeysWithValues: WorkerSettingNames.all.map { ($0, "") })

    @Test("flag over env over file over default, each value with its source; secrets masked; exit 0 without a database")
    func precedence() async throws {
        let path = try Self.file("""
            concurrency = 2
            batch_size = 4
            request_timeout = "20s"
            """)
        let environment = Self.clean.merging([
            "HERALD_BATCH_SIZE": "6", "HERALD_REQUEST_TIMEOUT": "25s", "HERALD_CONFIG": path,
            "DATABASE_URL": "postgres://herald:hunter2@127.0.0.1:1/none",
        ]) { $1 }
        let result = try await HeraldBinary.run(["worker", "--print-config", "--json", "--request-timeout", "30s"], environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: [String: String]])
        #expect(object["request_timeout"] == ["value": "30s", "source": "flag --request-timeout"])
        #expect(object["batch_size"] == ["value": "6", "source": "env HERALD_BATCH_SIZE"])
        #expect(object["concurrency"] == ["value": "2", "source": "file \(path)"])
        #expect(object["max_attempts"] == ["value": "8", "source": "default"])
        #expect(object["database_url"]?["value"] == "postgres://herald:****@127.0.0.1:1/none")
        #expect(!result.stdout.contains("hunter2"))

        let text = try await HeraldBinary.run(["worker", "--print-config", "--config", path], environment: Self.clean)
        #expect(text.status == 0, "\(text.stderr)")
        let line = try #require(text.stdout.split(separator: "\n").first { $0.hasPrefix("concurrency ") })
        #expect(line.split(separator: " ", omittingEmptySubsequences: true) == ["concurrency", "2", "file", Substring(path)])
    }

    @Test("refusals exit 64 with one line naming the key and the source", arguments: [
        (["--concurrency", "lots"], [:], "", "herald: invalid concurrency \"lots\" from --concurrency: expected a whole number 1-256"),
        ([], ["HERALD_CONCURRENCY": "lots"], "", "herald: invalid concurrency \"lots\" from HERALD_CONCURRENCY: expected a whole number 1-256"),
        ([], ["HERALD_CONCURENCY": "4"], "", "herald: unknown setting HERALD_CONCURENCY in the environment: did you mean HERALD_CONCURRENCY?"),
        ([], [:], "concurency = 4\n", "herald: unknown key \"concurency\" in FILE line 1: did you mean concurrency?"),
        (["--config", "/nonexistent/herald.toml"], [:], "", "herald: config file /nonexistent/herald.toml does not exist (named by --config)"),
    ] as [([String], [String: String], String, String)])
    func refused(arguments: [String], environment: [String: String], fileText: String, expected: String) async throws {
        try await Self.expectRefusal("worker", arguments, environment: Self.clean.merging(environment) { $1 }, fileText: fileText, expected: expected)
    }

    /// Runs `herald <command> --print-config` with `arguments` (a herald.toml of `fileText` named by
    /// HERALD_CONFIG, FILE in `expected` standing for its path) and expects one line of refusal, exit 64.
    static func expectRefusal(
        _ command: String, _ arguments: [String], environment: [String: String], fileText: String, expected: String
    ) async throws {
        var environment = environment
        var expected = expected
        if !fileText.isEmpty {
            let path = try file(fileText)
            environment["HERALD_CONFIG"] = path
            expected = expected.replacingOccurrences(of: "FILE", with: path)
        }
        let result = try await HeraldBinary.run([command, "--print-config"] + arguments, environment: environment)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.hasPrefix(expected), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }
}

/// `herald serve` reads its settings the same way, and one herald.toml serves both commands.
@Suite("Serve --print-config")
struct ServePrintConfigTests {
    static let clean = PrintConfigTests.clean.merging(["HERALD_HOST": "", "HERALD_PORT": "", "HERALD_POOL_SIZE": ""]) { $1 }

    @Test("flag over env over file over default; a worker's keys in the shared file are left to the worker")
    func precedence() async throws {
        let path = try PrintConfigTests.file("""
            concurrency = 16
            port = 9000
            pool_size = 3
            host = "0.0.0.0"
            """)
        let environment = Self.clean.merging(["HERALD_POOL_SIZE": "5", "HERALD_CONFIG": path, "DATABASE_URL": "postgres://h:hunter2@127.0.0.1:1/x"]) { $1 }
        let result = try await HeraldBinary.run(["serve", "--print-config", "--json", "--host", "127.0.0.2"], environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: [String: String]])
        #expect(object["host"] == ["value": "127.0.0.2", "source": "flag --host"])
        #expect(object["pool_size"] == ["value": "5", "source": "env HERALD_POOL_SIZE"])
        #expect(object["port"] == ["value": "9000", "source": "file \(path)"])
        #expect(object["auth_failures_per_minute"] == ["value": "10", "source": "default"])
        #expect(object["shutdown_grace"] == ["value": "30s", "source": "default"])
        #expect(object["concurrency"] == nil, "a worker setting is not serve's")
        #expect(!result.stdout.contains("hunter2"))
        // The same file, read by a worker: serve's keys are left to serve.
        let worker = try await HeraldBinary.run(["worker", "--print-config", "--json"], environment: environment)
        #expect(worker.status == 0, "\(worker.stderr)")
        #expect(worker.stdout.contains("\"concurrency\"") && !worker.stdout.contains("\"pool_size\""))
    }

    @Test("refusals exit 64 naming the key and the source", arguments: [
        (["--port", "99999"], [:], "", "herald: invalid port \"99999\" from --port: port must be between 0 and 65535, got 99999"),
        ([], ["HERALD_POOL_SIZE": "many"], "", "herald: invalid pool_size \"many\" from HERALD_POOL_SIZE: expected a whole number 1-256"),
        ([], ["HERALD_POLL_SIZE": "4"], "", "herald: unknown setting HERALD_POLL_SIZE in the environment: did you mean HERALD_POOL_SIZE?"),
        ([], [:], "pool_sise = 4\n", "herald: unknown key \"pool_sise\" in FILE line 1: did you mean pool_size?"),
        (["--shutdown-grace", "soon"], [:], "", "herald: invalid shutdown_grace \"soon\" from --shutdown-grace"),
    ] as [([String], [String: String], String, String)])
    func refused(arguments: [String], environment: [String: String], fileText: String, expected: String) async throws {
        try await PrintConfigTests.expectRefusal("serve", arguments, environment: Self.clean.merging(environment) { $1 }, fileText: fileText, expected: expected)
    }
}

/// Variables a worker reads that a developer may have exported, blanked for a run (an empty variable
/// counts as unset; HERALD_SCHEMA and the log ones are checked by every command, so they stay as they are).
enum WorkerSettingNames {
    static let all = [
        "DATABASE_URL", "HERALD_WORKER_ID", "HERALD_CONCURRENCY", "HERALD_BATCH_SIZE",
        "HERALD_REQUEST_TIMEOUT", "HERALD_CONFIG", "HERALD_ALLOW_PRIVATE_NETWORKS", "HERALD_ENCRYPTION_KEY",
    ]
}
