import ArgumentParser
import Foundation
import Herald
import HeraldAPI
import HeraldConfiguration
import HeraldTelemetry
import Logging
import PGDriver
import ServiceLifecycle

/// `herald serve`: the admin HTTP API.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the admin HTTP API (/v1, /console, /openapi.yaml, /healthz, /readyz, /metrics) until SIGTERM.",
        discussion: """
            Every /v1 request needs a token from `herald tokens create` (docs/api.md). Stateless: run as many
            as you like behind a load balancer. SIGTERM/SIGINT: stop accepting, finish requests in flight
            (up to --shutdown-grace), exit 0.

            Examples:
              herald serve
              herald serve --host 0.0.0.0 --port 8080 --pool-size 16
              HERALD_PORT=9000 herald serve --config /etc/herald.toml --print-config
              herald serve --host 0.0.0.0 --port 8443 --tls-cert /etc/herald/cert.pem --tls-key /etc/herald/key.pem

            TLS: with --tls-cert and --tls-key (PEM; give both or neither) it serves HTTPS only, TLS 1.2 or
            later; a plain HTTP request to that port gets no answer. Without them it serves plain HTTP: terminate
            TLS at a load balancer, or keep --host 127.0.0.1. An unreadable or invalid file, or a key that does
            not go with the certificate, stops it at once (exit 64). Reload a renewed certificate by restarting.

            Every setting also comes from HERALD_<FLAG_IN_UPPER_SNAKE> (HERALD_PORT; DATABASE_URL,
            HERALD_ENCRYPTION_KEY) and from a --config file (the same herald.toml as the workers': keys of
            `herald worker` are left to it). A flag beats the environment, which beats the file, which beats
            the default. Unknown keys and malformed values exit 64.

            Exit codes: 0 stopped on a signal; 1 could not start (database unreachable, schema not migrated,
            port in use); 64 invalid arguments.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("TOML file of settings, one key = value per line (also HERALD_CONFIG); flags and HERALD_* variables override it.", valueName: "path"))
    var config: String?

    @Flag(help: "Print every setting's effective value and its source (flag, env, file or default), secrets masked, and exit without connecting.")
    var printConfig = false

    @Flag(help: "With --print-config: print it as one JSON object.")
    var json = false

    @Option(help: help("Address to listen on (127.0.0.1: this machine only; 0.0.0.0 behind a load balancer).", "host"))
    var host: String?

    @Option(help: help("Port to listen on (0: any free port, logged as `api listening`).", "port"))
    var port: String?

    @Option(help: help("Database connections at most, 1-256: requests in flight beyond it wait for one.", "pool_size"))
    var poolSize: String?

    @Option(help: help("Failed authentications allowed per client address per minute before 429, 1-100000.", "auth_failures_per_minute"))
    var authFailuresPerMinute: String?

    @Option(help: help("Longest wait for requests in flight on shutdown.", "shutdown_grace"))
    var shutdownGrace: String?

    @Option(help: help("Serve HTTPS with this certificate chain (PEM, server certificate first); needs --tls-key.", "tls_cert"))
    var tlsCert: String?

    @Option(help: help("The private key of --tls-cert (PEM, unencrypted).", "tls_key"))
    var tlsKey: String?

    /// `text` with the setting's default (APIServer.Configuration's, the one source) and its variable.
    static func help(_ text: String, _ key: String) -> ArgumentHelp {
        guard let setting = Setting<ServeSettings>.named(key) else { return ArgumentHelp(text) }
        return ArgumentHelp("\(text) [default: \(setting.defaultText); env \(setting.environmentVariable)]")
    }

    /// The flags given, by setting key, as typed; the resolver reads them like any other source.
    var flagValues: [String: String] {
        let given: [(String, String?)] = [
            ("database_url", connection.databaseURL), ("schema", connection.schema), ("log_level", connection.logLevel),
            ("log_format", connection.logFormat), ("host", host), ("port", port), ("pool_size", poolSize),
            ("auth_failures_per_minute", authFailuresPerMinute), ("shutdown_grace", shutdownGrace), ("tls_cert", tlsCert),
            ("tls_key", tlsKey),
        ]
        return Dictionary(uniqueKeysWithValues: given.compactMap { key, value in value.map { (key, $0) } })
    }

    func validate() throws {
        if json && !printConfig { throw ValidationError("--json goes with --print-config") }
    }

    func run() async throws {
        let settings: ServeSettings
        do {
            settings = try ServeSettingsResolver(flags: flagValues, environment: ProcessInfo.processInfo.environment, configFlag: config).resolve()
        } catch {
            let (message, code) = CommandRunner.describe(error, schema: nil)
            FileHandle.standardError.write(Data("herald: \(message)\n".utf8))
            throw code
        }
        if printConfig {
            print(try WorkerCommand.render(settings, json: json))
            return
        }
        var connection = self.connection
        connection.databaseURL = settings.connectionString
        connection.schema = settings.server.schema.rawValue
        connection.logLevel = settings.logLevel
        connection.logFormat = settings.logFormat
        try await CommandRunner.run(connection) { logger in
            let schema = settings.server.schema
            let url = connection.connectionString
            // Refuse to start on an unmigrated schema: every request would fail.
            let first = try await connection.connect(logger: logger)
            let pending = try await Migrator(connection: first, schema: schema, logger: logger).status().filter { $0.state == .pending }.map(\.name)
            await first.close()
            guard pending.isEmpty else {
                throw HeraldError(.migration, "schema \(schema) is missing migrations (\(pending.joined(separator: ", "))): run `herald migrate` first")
            }
            // Bootstrapped before anything reads the global tracer; first in the group, so last out: the
            // exporter outlives the server's shutdown and flushes its last spans.
            let telemetry = try TelemetrySetup.bootstrap(serviceName: "herald-serve", logger: logger).map { [ServiceGroupConfiguration.ServiceConfiguration(service: $0)] } ?? []
            let pool = PGConnectionPool(maximum: settings.server.poolSize) {
                try await PGConnection.connect(url, applicationName: "herald-serve", logger: logger)
            }
            let server = try APIServer(configuration: settings.server, pool: pool, logger: logger)
            let pinger = DatabasePinger(pool: pool, schema: schema, contact: server.contact, logger: logger)
            var config = ServiceGroupConfiguration(
                services: telemetry + [.init(service: server), .init(service: pinger)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            config.maximumGracefulShutdownDuration = settings.shutdownGrace
            config.maximumCancellationDuration = .seconds(5)
            try await ServiceGroup(configuration: config).run()
        }
    }
}
