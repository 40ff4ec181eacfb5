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
        (["--concurrency", "lots"], [:], "", "herald: invalid concurrency \"lots\" from --concurrency: expected a whole number 1-1024"),
        ([], ["HERALD_CONCURRENCY": "lots"], "", "herald: invalid concurrency \"lots\" from HERALD_CONCURRENCY: expected a whole number 1-1024"),
        ([], ["HERALD_CONCURENCY": "4"], "", "herald: unknown setting HERALD_CONCURENCY in the environment: did you mean HERALD_CONCURRENCY?"),
        ([], [:], "concurency = 4\n", "herald: unknown key \"concurency\" in FILE line 1: did you mean concurrency?"),
        (["--config", "/nonexistent/herald.toml"], [:], "", "herald: config file /nonexistent/herald.toml does not exist (named by --config)"),
    ] as [([String], [String: String], String, String)])
    func refused(arguments: [String], environment: [String: String], fileText: String, expected: String) async throws {
        var environment = Self.clean.merging(environment) { $1 }
        var expected = expected
        if !fileText.isEmpty {
            let path = try Self.file(fileText)
            environment["HERALD_CONFIG"] = path
            expected = expected.replacingOccurrences(of: "FILE", with: path)
        }
        let result = try await HeraldBinary.run(["worker", "--print-config"] + arguments, environment: environment)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.hasPrefix(expected), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
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
