import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Herald
import HeraldConfiguration
import HeraldTelemetry
import Logging
import ServiceLifecycle

/// `herald worker`: leases and delivers webhooks until SIGTERM/SIGINT.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Deliver due webhooks until stopped (SIGTERM/SIGINT stop gracefully).",
        discussion: """
            Each of --concurrency slots holds one database connection (spare slots one more each, only while
            a batch waits for a slow send; --spare-slots). A slot leases up to --batch-size due
            deliveries with SELECT … FOR NO KEY UPDATE SKIP LOCKED, each with a permit of its endpoint (so the
            fleet never has more requests in flight to an endpoint than its adaptive window; see
            docs/flow_control.md), sends them all at once while the lease is held, and records
            the outcomes and attempt rows in the same transaction. Run as many worker processes as you like
            against one database. On SIGTERM the worker stops leasing, finishes its sends in flight (up to
            --shutdown-grace) and exits 0.

            Examples:
              herald worker --concurrency 16
              herald worker --concurrency 4 --batch-size 8 --max-attempts 5 --backoff-base 10s
              HERALD_CONCURRENCY=16 herald worker --config /etc/herald.toml --print-config

            Every setting also comes from HERALD_<FLAG_IN_UPPER_SNAKE> (HERALD_BATCH_SIZE;
            DATABASE_URL, HERALD_ENCRYPTION_KEY) and from a --config file (key = value,
            keys in lower_snake). A flag beats the environment, which beats the file,
            which beats the default. Unknown keys and malformed values exit 64.

            Exit codes: 0 stopped on a signal; 1 could not start (database unreachable, schema not migrated);
            64 invalid arguments.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("TOML file of worker settings, one key = value per line (also HERALD_CONFIG); flags and HERALD_* variables override it.", valueName: "path"))
    var config: String?

    @Flag(help: "Print every setting's effective value and its source (flag, env, file or default), secrets masked, and exit without connecting.")
    var printConfig = false

    @Flag(help: "With --print-config: print it as one JSON object.")
    var json = false

    @Option(help: WorkerCommand.help("Slots (database connections) sending in parallel, 1-256.", "concurrency"))
    var concurrency: String?

    @Option(help: WorkerCommand.help("Extra slots that lease while others wait only for a slow send of their batch (each its own connection, opened when first needed), 0-256.", "spare_slots"))
    var spareSlots: String?

    @Option(help: WorkerCommand.help("Deliveries one slot leases and sends together, 1-256.", "batch_size"))
    var batchSize: String?

    @Option(help: WorkerCommand.help("Requests in flight to one endpoint across all workers, at most, unless the endpoint sets its own (endpoints set --max-in-flight), 1-10000.", "max_in_flight_per_endpoint"))
    var maxInFlightPerEndpoint: String?

    @Option(help: WorkerCommand.help("How often idle slots poll when no notification arrives.", "poll_interval"))
    var pollInterval: String?

    @Option(help: WorkerCommand.help("Enqueue notifications closer together than this wake one slot, at the window's end (0ms: one each).", "wakeup_coalescing"))
    var wakeupCoalescing: String?

    @Option(help: WorkerCommand.help("TCP connect timeout per request.", "connect_timeout"))
    var connectTimeout: String?

    @Option(help: WorkerCommand.help("Whole-request timeout per request, response included.", "request_timeout"))
    var requestTimeout: String?

    @Option(help: WorkerCommand.help("Attempts per delivery unless the endpoint or delivery says otherwise, 1-50.", "max_attempts"))
    var maxAttempts: String?

    @Option(help: WorkerCommand.help("Ceiling of the first retry's wait (full jitter), at least 1s.", "backoff_base"))
    var backoffBase: String?

    @Option(help: WorkerCommand.help("Largest retry wait.", "backoff_cap"))
    var backoffCap: String?

    @Option(help: WorkerCommand.help("Growth of the retry wait per attempt.", "backoff_factor"))
    var backoffFactor: String?

    @Option(help: WorkerCommand.help("Consecutive retryable failures that open an endpoint's circuit breaker, 1-1000.", "breaker_threshold"))
    var breakerThreshold: String?

    @Option(help: WorkerCommand.help("How long an open breaker stays open before one probe is sent.", "breaker_cooldown"))
    var breakerCooldown: String?

    @Option(help: WorkerCommand.help("Longest cool-down; it doubles on each consecutive trip up to this.", "breaker_cooldown_cap"))
    var breakerCooldownCap: String?

    @Option(help: WorkerCommand.help("Longest wait for sends in flight on shutdown before they are abandoned (rolled back).", "shutdown_grace"))
    var shutdownGrace: String?

    @Option(help: WorkerCommand.help("Park a delivery as dead after this many consecutive sends that never finished (worker killed or wedged), 1-100.", "poison_threshold"))
    var poisonThreshold: String?

    @Flag(help: WorkerCommand.help("Allow sends to loopback, private, link-local and other non-global addresses (off: SSRF guard; 1|true|yes|on in the variable or file). The startup line logs ssrf_guard=on|off.", "allow_private_networks"))
    var allowPrivateNetworks = false

    @Option(help: WorkerCommand.help("Serve /metrics, /healthz and /readyz on this port (off unless given).", "metrics_port"))
    var metricsPort: String?

    @Option(help: WorkerCommand.help("Bytes of bodies over 64 KiB the worker holds at once across its slots (KiB, MiB, GiB); what does not fit waits, unsent, for a later round. A larger body still goes, alone.", "max_in_flight_bytes"))
    var maxInFlightBytes: String?

    @Option(help: WorkerCommand.help("Address the metrics server binds to (127.0.0.1: this machine only; 0.0.0.0 in a container whose port is published).", "metrics_host"))
    var metricsHost: String?

    @Option(help: WorkerCommand.help("How often queue depth and lag are sampled for the metrics.", "sample_interval"))
    var sampleInterval: String?

    @Option(help: WorkerCommand.help("How often the worker records its heartbeat for `herald workers` (100ms-5m); silent after 3 missed.", "heartbeat_interval"))
    var heartbeatInterval: String?

    @Option(help: WorkerCommand.help("Disable an endpoint when every attempt to it failed for this long (no success in between), or off. A 410 Gone disables at once.", "disable_failing_after"))
    var disableFailingAfter: String?

    @Option(help: WorkerCommand.help("Connection for LISTEN wake-ups and the sampler's lock, which need a session: behind a transaction-pooling PgBouncer, PostgreSQL itself.", "listen_database_url"))
    var listenDatabaseURL: String?

    @Option(help: WorkerCommand.help("on: prepare the lease once per connection (faster); off: behind a transaction-pooling PgBouncer older than 1.21.", "prepared_statements"))
    var preparedStatements: String?

    @Option(help: "Name in the attempt log (default host-pid-random; env HERALD_WORKER_ID).")
    var workerID: String?

    /// `text` with the setting's default (WorkerConfiguration's, the one source) and its variable.
    static func help(_ text: String, _ key: String) -> ArgumentHelp {
        guard let setting = WorkerSetting.named(key) else { return ArgumentHelp(text) }
        return ArgumentHelp("\(text) [default: \(setting.defaultText); env \(setting.environmentVariable)]")
    }

    /// The flags given, by setting key, as typed; the resolver reads them like any other source.
    var flagValues: [String: String] {
        let given: [(String, String?)] = [
            ("database_url", connection.databaseURL), ("schema", connection.schema), ("log_level", connection.logLevel),
            ("log_format", connection.logFormat), ("worker_id", workerID), ("concurrency", concurrency), ("spare_slots", spareSlots), ("batch_size", batchSize),
            ("max_in_flight_per_endpoint", maxInFlightPerEndpoint), ("max_in_flight_bytes", maxInFlightBytes), ("poll_interval", pollInterval), ("wakeup_coalescing", wakeupCoalescing), ("connect_timeout", connectTimeout),
            ("request_timeout", requestTimeout), ("max_attempts", maxAttempts), ("backoff_base", backoffBase), ("backoff_cap", backoffCap),
            ("backoff_factor", backoffFactor), ("breaker_threshold", breakerThreshold), ("breaker_cooldown", breakerCooldown),
            ("breaker_cooldown_cap", breakerCooldownCap), ("shutdown_grace", shutdownGrace), ("poison_threshold", poisonThreshold),
            ("allow_private_networks", allowPrivateNetworks ? "true" : nil), ("metrics_port", metricsPort), ("metrics_host", metricsHost),
            ("sample_interval", sampleInterval), ("heartbeat_interval", heartbeatInterval), ("disable_failing_after", disableFailingAfter),
            ("listen_database_url", listenDatabaseURL), ("prepared_statements", preparedStatements),
        ]
        return Dictionary(uniqueKeysWithValues: given.compactMap { key, value in value.map { (key, $0) } })
    }

    /// Flags over HERALD_* variables over the config file over WorkerConfiguration's defaults.
    func resolveSettings() throws -> WorkerSettings {
        try WorkerSettingsResolver(flags: flagValues, environment: ProcessInfo.processInfo.environment, configFlag: config).resolve()
    }

    func validate() throws {
        if json && !printConfig { throw ValidationError("--json goes with --print-config") }
    }

    /// The effective settings, one line each (or one JSON object), for `--print-config`.
    static func render(_ settings: some SettingValues, json: Bool) throws -> String {
        if json {
            return try JSONOutput.encode(Dictionary(uniqueKeysWithValues: settings.entries.map { ($0.key, PrintedSetting(value: $0.value, source: $0.source.description)) }))
        }
        return TextTable.render(header: ["SETTING", "VALUE", "SOURCE"], rows: settings.entries.map { [$0.key, $0.value, $0.source.description] })
    }

    func run() async throws {
        let settings: WorkerSettings
        do {
            settings = try resolveSettings()
        } catch {
            let (message, code) = CommandRunner.describe(error, schema: nil)
            FileHandle.standardError.write(Data("herald: \(message)\n".utf8))
            throw code
        }
        if printConfig {
            print(try Self.render(settings, json: json))
            return
        }
        Self.returnLargeBuffersToTheSystem()
        var connection = self.connection
        connection.databaseURL = settings.configuration.connectionString
        connection.schema = settings.configuration.schema.rawValue
        connection.logLevel = settings.logLevel
        connection.logFormat = settings.logFormat
        let configuration = settings.configuration
        try await CommandRunner.run(connection) { logger in
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            // Bootstrapped before anything reads the global tracer; first in the group, so last out: the exporter
            // outlives the worker's shutdown and flushes its last spans.
            if let telemetry = try TelemetrySetup.bootstrap(serviceName: "herald-worker", logger: logger) { services.append(.init(service: telemetry)) }
            let worker = try Worker(configuration: configuration, logger: logger)
            try await worker.checkSchema()
            services.append(.init(service: worker))
            if let metricsPort = configuration.metricsPort {
                // Bound before the worker starts: a busy port stops startup with a message naming the flag.
                let metricsHost = configuration.metricsHost
                let server: MetricsServer
                do {
                    server = try await MetricsServer.bind(host: metricsHost, port: metricsPort, metrics: worker.metrics, logger: logger) {
                        worker.databaseIsReachable
                    }
                } catch let error as HeraldError {
                    throw HeraldError.invalid("--metrics-port \(metricsPort) (--metrics-host \(metricsHost)): \(error.message)")
                }
                services.append(.init(service: server))
            }
            var config = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            config.maximumGracefulShutdownDuration = configuration.shutdownGrace
            config.maximumCancellationDuration = .seconds(5)
            try await ServiceGroup(configuration: config).run()
        }
    }
}

/// One setting as `--print-config --json` prints it.
struct PrintedSetting: Encodable {
    var value: String
    var source: String
}

extension WorkerCommand {
    /// Allocations of 4 MiB and more (large bodies on their way out) are mapped and unmapped by glibc's
    /// malloc, so the memory goes back to the system when the send is done. glibc's default raises that
    /// threshold after each such free, up to 32 MiB, and the freed bodies then stay in its arenas: measured
    /// (docs/benchmarks.md, section 9) 474 MiB peak RSS for 10 MiB bodies at the defaults, 232 MiB with the
    /// fixed threshold, with no measured change for small bodies. An operator's `MALLOC_MMAP_THRESHOLD_` wins.
    static func returnLargeBuffersToTheSystem() {
        #if canImport(Glibc)
        guard ProcessInfo.processInfo.environment["MALLOC_MMAP_THRESHOLD_"] == nil else { return }
        // mallopt is in <malloc.h>, which Swift's Glibc module does not export; M_MMAP_THRESHOLD is -3.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return }
        _ = unsafeBitCast(symbol, to: Mallopt.self)(-3, 4 << 20)
        #endif
    }
}
