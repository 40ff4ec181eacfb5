import Foundation
import Herald
import HeraldConfiguration
import Testing

/// Where worker settings come from: flag > environment > file > default, and every refusal names the
/// key and the source.
@Suite("Worker settings resolution")
struct WorkerSettingsResolverTests {
    /// A config file in a fresh temporary folder.
    static func file(_ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("herald-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("herald.toml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func refusal(_ resolver: WorkerSettingsResolver) -> String? {
        do {
            _ = try resolver.resolve()
            return nil
        } catch let error as HeraldError {
            #expect(error.code == .invalidInput)
            return error.message
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test("defaults are WorkerConfiguration's, each with source default")
    func defaults() throws {
        let settings = try WorkerSettingsResolver().resolve()
        let defaults = WorkerConfiguration(connectionString: "", schema: .default)
        #expect(settings.configuration.concurrency == defaults.concurrency)
        #expect(settings.configuration.retryPolicy == defaults.retryPolicy)
        #expect(settings.configuration.disableFailingAfter == .seconds(5 * 86_400))
        #expect(settings.entries.allSatisfy { $0.source == .default })
        #expect(WorkerSetting.named("concurrency")?.defaultText == "\(defaults.concurrency)")
        #expect(WorkerSetting.named("request_timeout")?.defaultText == "15s")
        #expect(WorkerSetting.named("backoff_cap")?.defaultText == "10h")
        #expect(WorkerSetting.named("disable_failing_after")?.defaultText == "5d")
    }

    @Test("a flag beats the environment, which beats the file, which beats the default", arguments: [
        // (flag, environment, file, expected concurrency, expected source)
        ("3", "4", "5", 3, SettingSource.flag("--concurrency")),
        (nil, "4", "5", 4, .environment("HERALD_CONCURRENCY")),
        (nil, nil, "5", 5, .file("FILE")),
        (nil, nil, nil, 8, .default),
        ("3", nil, "5", 3, .flag("--concurrency")),
    ] as [(String?, String?, String?, Int, SettingSource)])
    func precedence(flag: String?, env: String?, fileValue: String?, expected: Int, source: SettingSource) throws {
        let path = try Self.file(fileValue.map { "concurrency = \($0)\n" } ?? "# nothing\n")
        let resolver = WorkerSettingsResolver(
            flags: flag.map { ["concurrency": $0] } ?? [:], environment: env.map { ["HERALD_CONCURRENCY": $0] } ?? [:], configFlag: path)
        let settings = try resolver.resolve()
        #expect(settings.configuration.concurrency == expected)
        #expect(settings.source(of: "concurrency") == (source == .file("FILE") ? .file(path) : source))
    }

    @Test("every kind of setting reads from each source: durations, booleans, off, names, policies")
    func everyKind() throws {
        let path = try Self.file("""
            # herald.toml
            request_timeout = "30s"
            allow_private_networks = true
            disable_failing_after = "off"
            schema = 'webhooks'   # a literal string
            backoff_factor = 2.5
            max_attempts = 1_0
            """)
        let settings = try WorkerSettingsResolver(
            flags: ["breaker_cooldown": "1m"], environment: ["HERALD_METRICS_PORT": "9090", "HERALD_LOG_FORMAT": "json", "DATABASE_URL": "postgres://u:pw@db/h"],
            configFlag: path
        ).resolve()
        let c = settings.configuration
        #expect(c.requestTimeout == .seconds(30))
        #expect(c.allowPrivateNetworks)
        #expect(c.disableFailingAfter == nil)
        #expect(c.schema.rawValue == "webhooks")
        #expect(c.retryPolicy.factor == 2.5)
        #expect(c.retryPolicy.maxAttempts == 10)
        #expect(c.breakerPolicy.cooldown == .seconds(60))
        #expect(c.metricsPort == 9090)
        #expect(settings.logFormat == "json")
        #expect(c.connectionString == "postgres://u:pw@db/h")
        #expect(settings.source(of: "database_url") == .environment("DATABASE_URL"))
    }

    @Test("HERALD_CONFIG names the file; --config wins over it")
    func configVariable() throws {
        let a = try Self.file("batch_size = 4\n"), b = try Self.file("batch_size = 5\n")
        #expect(try WorkerSettingsResolver(environment: ["HERALD_CONFIG": a]).resolve().configuration.batchSize == 4)
        #expect(try WorkerSettingsResolver(environment: ["HERALD_CONFIG": a], configFlag: b).resolve().configuration.batchSize == 5)
    }

    @Test("malformed values are refused naming the key, the value and the source", arguments: [
        ("concurrency", "lots", "invalid concurrency \"lots\" from SOURCE: expected a whole number 1-256"),
        ("concurrency", "0", "invalid concurrency \"0\" from SOURCE: concurrency must be between 1 and 256"),
        ("max_attempts", "51", "invalid max_attempts \"51\" from SOURCE: max attempts must be between 1 and 50"),
        ("request_timeout", "15", "invalid request_timeout \"15\" from SOURCE: expected a duration with a unit"),
        ("backoff_base", "100ms", "invalid backoff_base \"100ms\" from SOURCE: backoff base must be at least 1s"),
        ("allow_private_networks", "maybe", "invalid allow_private_networks \"maybe\" from SOURCE: expected 1, true"),
        ("log_format", "xml", "invalid log_format \"xml\" from SOURCE: expected one of text, json"),
        ("disable_failing_after", "never", "invalid disable_failing_after \"never\" from SOURCE: expected a duration"),
        ("metrics_port", "70000", "invalid metrics_port \"70000\" from SOURCE: metrics port must be between 1 and 65535"),
        ("schema", "Robert); DROP", "invalid schema \"Robert); DROP\" from SOURCE: invalid schema name"),
        ("backoff_factor", "fast", "invalid backoff_factor \"fast\" from SOURCE: expected a number 1-100"),
    ])
    func malformed(key: String, value: String, expected: String) throws {
        let setting = try #require(WorkerSetting.named(key))
        let path = try Self.file("\(key) = \"\(value.replacingOccurrences(of: "\"", with: "\\\""))\"\n")
        let sources: [(WorkerSettingsResolver, String)] = [
            (WorkerSettingsResolver(flags: [key: value]), try #require(setting.flag)),
            (WorkerSettingsResolver(environment: [setting.environmentVariable: value]), setting.environmentVariable),
            (WorkerSettingsResolver(configFlag: path), path),
        ]
        for (resolver, origin) in sources {
            let message = Self.refusal(resolver)
            #expect(message?.hasPrefix(expected.replacingOccurrences(of: "SOURCE", with: origin)) == true, "\(origin): \(message ?? "accepted")")
        }
    }

    @Test("a secret's value is never quoted in a refusal")
    func secretNotQuoted() {
        let message = Self.refusal(WorkerSettingsResolver(environment: ["HERALD_ENCRYPTION_KEY": "hunter2"]))
        #expect(message?.contains("invalid encryption_key (value not shown) from HERALD_ENCRYPTION_KEY") == true, "\(message ?? "accepted")")
        #expect(message?.contains("hunter2") == false)
    }

    @Test("settings that clash are refused naming where each came from")
    func clash() {
        let message = Self.refusal(WorkerSettingsResolver(flags: ["backoff_cap": "2s"], environment: ["HERALD_BACKOFF_BASE": "10s"]))
        #expect(message?.contains("backoff cap") == true, "\(message ?? "accepted")")
        #expect(message?.contains("backoff_cap \"2s\" from --backoff-cap") == true, "\(message ?? "accepted")")
        #expect(message?.contains("backoff_base \"10s\" from HERALD_BACKOFF_BASE") == true, "\(message ?? "accepted")")
        // A lower base given with the cap makes the same cap acceptable.
        #expect(Self.refusal(WorkerSettingsResolver(flags: ["backoff_cap": "2s", "backoff_base": "1s"])) == nil)
    }

    @Test("file errors: unknown key, tables, arrays, bad lines, duplicates, a missing file", arguments: [
        ("concurency = 4\n", "unknown key \"concurency\" in FILE line 1: did you mean concurrency?"),
        ("# c\nbogus_setting = 1\n", "unknown key \"bogus_setting\" in FILE line 2"),
        ("[worker]\nconcurrency = 4\n", "FILE line 1: tables such as [worker] are not supported"),
        ("concurrency = [1, 2]\n", "FILE line 1: arrays and inline tables are not supported"),
        ("concurrency 4\n", "FILE line 1: expected key = value"),
        ("concurrency = 4\nconcurrency = 5\n", "FILE line 2: concurrency is set twice"),
        ("request_timeout = 15s\n", "FILE line 1: \"15s\" is not a string, number or boolean"),
        ("schema = \"open\n", "FILE line 1: a string is not closed"),
        ("worker.concurrency = 4\n", "FILE line 1: \"worker.concurrency\" is not a bare key"),
    ])
    func fileErrors(text: String, expected: String) throws {
        let path = try Self.file(text)
        let message = Self.refusal(WorkerSettingsResolver(configFlag: path))
        #expect(message?.hasPrefix(expected.replacingOccurrences(of: "FILE", with: path)) == true, "\(message ?? "accepted")")
    }

    @Test("a missing config file is refused naming where it was named", arguments: [
        (WorkerSettingsResolver(configFlag: "/nonexistent/herald.toml"), "(named by --config)"),
        (WorkerSettingsResolver(environment: ["HERALD_CONFIG": "/nonexistent/herald.toml"]), "(named by HERALD_CONFIG)"),
    ])
    func missingFile(resolver: WorkerSettingsResolver, named: String) {
        #expect(Self.refusal(resolver) == "config file /nonexistent/herald.toml does not exist \(named)")
    }

    @Test("a HERALD_ variable a typo away from a setting is refused; other HERALD_ variables are left alone", arguments: [
        ("HERALD_CONCURENCY", "HERALD_CONCURRENCY"), ("HERALD_BATCHSIZE", "HERALD_BATCH_SIZE"), ("HERALD_DATABASE_URL", "DATABASE_URL"),
        ("HERALD_REQUEST_TIMEOUTS", "HERALD_REQUEST_TIMEOUT"), ("HERALD_ENCRYPTION_KEYS", "HERALD_ENCRYPTION_KEY"),
    ])
    func unknownVariable(name: String, suggestion: String) {
        let message = Self.refusal(WorkerSettingsResolver(environment: [name: "1"]))
        #expect(message?.hasPrefix("unknown setting \(name) in the environment: did you mean \(suggestion)?") == true, "\(message ?? "accepted")")
    }

    @Test("tools' own HERALD_ variables are not worker settings", arguments: ["HERALD_BIN", "HERALD_CHAOS", "HERALD_CHAOS_REPORT", "HERALD_FUZZ_TARGET",
        "HERALD_PG_PORT", "HERALD_PG_DIR", "HERALD_DEMO_PORT", "HERALD_CLIBPQ_SHIM_H", "HERALD_CONFIG"])
    func toolVariables(name: String) throws {
        let environment = name == "HERALD_CONFIG" ? [:] : [name: "x"]
        _ = try WorkerSettingsResolver(environment: environment).resolve()
    }

    @Test("an empty variable counts as unset")
    func emptyVariable() throws {
        #expect(try WorkerSettingsResolver(environment: ["HERALD_METRICS_PORT": ""]).resolve().configuration.metricsPort == nil)
    }

    @Test("--print-config masks the database password and the encryption keys")
    func masking() throws {
        let key = Data(repeating: 7, count: 32).base64EncodedString()
        for url in ["postgres://herald:s3cret@db:5432/herald?sslmode=require", "host=db password=s3cret dbname=herald",
                    "postgresql://db/herald?user=h&password=s3cret"] {
            let settings = try WorkerSettingsResolver(environment: ["DATABASE_URL": url, "HERALD_ENCRYPTION_KEY": key]).resolve()
            let shown = settings.entries.map { "\($0.key) \($0.value) \($0.source)" }.joined(separator: "\n")
            #expect(!shown.contains("s3cret"), "\(shown)")
            #expect(!shown.contains(key))
            #expect(shown.contains("database_url") && shown.contains("****"), "\(shown)")
            #expect(shown.contains("encryption_key (masked; keys k"), "\(shown)")
        }
    }

    @Test("every setting has a flag (but the encryption key), a variable, and a key the file accepts")
    func table() throws {
        let all = WorkerSetting.all
        #expect(Set(all.map(\.key)).count == all.count)
        #expect(Set(all.map(\.environmentVariable)).count == all.count)
        for setting in all where setting.key != "encryption_key" {
            #expect(setting.flag == "--" + setting.key.replacingOccurrences(of: "_", with: "-"))
        }
        for setting in all where !["database_url", "encryption_key"].contains(setting.key) {
            #expect(setting.environmentVariable == "HERALD_" + setting.key.uppercased())
        }
        #expect(WorkerSetting.named("encryption_key")?.flag == nil)
    }
}
