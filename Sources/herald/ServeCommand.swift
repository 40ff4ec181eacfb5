import ArgumentParser
import Foundation
import Herald
import HeraldAPI
import Logging
import PGDriver
import ServiceLifecycle

/// `herald serve`: the admin HTTP API.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the admin HTTP API (/v1, /openapi.yaml, /healthz, /readyz, /metrics) until SIGTERM.",
        discussion: """
            Every /v1 request needs a token from `herald tokens create` (docs/api.md). Stateless: run as many
            as you like behind a load balancer. SIGTERM/SIGINT: stop accepting, finish requests in flight
            (up to --shutdown-grace), exit 0.

            Examples:
              herald serve
              herald serve --host 0.0.0.0 --port 8080 --pool-size 16
              herald serve --host 0.0.0.0 --port 8443 --tls-cert /etc/herald/cert.pem --tls-key /etc/herald/key.pem

            TLS: with --tls-cert and --tls-key (PEM; give both or neither) it serves HTTPS only, TLS 1.2 or
            later; a plain HTTP request to that port gets no answer. Without them it serves plain HTTP: terminate
            TLS at a load balancer, or keep --host 127.0.0.1. An unreadable or invalid file, or a key that does
            not go with the certificate, stops it at once (exit 64). Reload a renewed certificate by restarting.

            Exit codes: 0 stopped on a signal; 1 could not start (database unreachable, schema not migrated,
            port in use); 64 invalid arguments.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Address to listen on (127.0.0.1: this machine only; 0.0.0.0 behind a load balancer).")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port, logged as `api listening`).")
    var port: Int = 8080

    @Option(help: "Database connections at most, 1-256: requests in flight beyond it wait for one.")
    var poolSize: Int = 8

    @Option(help: "Failed authentications allowed per client address per minute before 429, 1-100000.")
    var authFailuresPerMinute: Int = 10

    @Option(help: "Longest wait for requests in flight on shutdown.")
    var shutdownGrace: String = "30s"

    @Option(help: ArgumentHelp("Serve HTTPS with this certificate chain (PEM, server certificate first); needs --tls-key.", valueName: "path"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The private key of --tls-cert (PEM, unencrypted).", valueName: "path"))
    var tlsKey: String?

    /// Both TLS files, or nil when neither was given.
    var tls: ServerTLS? {
        guard let tlsCert, let tlsKey else { return nil }
        return ServerTLS(certificatePath: tlsCert, keyPath: tlsKey)
    }

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535, got \(port)") }
        guard (1...256).contains(poolSize) else { throw ValidationError("--pool-size must be between 1 and 256, got \(poolSize)") }
        guard (1...100_000).contains(authFailuresPerMinute) else {
            throw ValidationError("--auth-failures-per-minute must be between 1 and 100000, got \(authFailuresPerMinute)")
        }
        do { _ = try DurationText.parse(shutdownGrace, name: "--shutdown-grace") } catch let error as HeraldError { throw ValidationError(error.message) }
        guard (tlsCert == nil) == (tlsKey == nil) else {
            throw ValidationError("give both --tls-cert and --tls-key (HTTPS), or neither (plain HTTP)")
        }
        // The files are read now, so a wrong path or a broken file stops the server before it starts.
        do { try tls?.check() } catch let error as HeraldError { throw ValidationError(error.message) }
    }

    func run() async throws {
        try await CommandRunner.run(connection) { logger in
            let schema = try connection.resolvedSchema()
            let url = connection.connectionString
            // Refuse to start on an unmigrated schema: every request would fail.
            let first = try await connection.connect(logger: logger)
            let pending = try await Migrator(connection: first, schema: schema, logger: logger).status().filter { $0.state == .pending }.map(\.name)
            await first.close()
            guard pending.isEmpty else {
                throw HeraldError(.migration, "schema \(schema) is missing migrations (\(pending.joined(separator: ", "))): run `herald migrate` first")
            }
            var configuration = APIServer.Configuration(schema: schema)
            configuration.host = host
            configuration.port = port
            configuration.poolSize = poolSize
            configuration.authFailuresPerMinute = authFailuresPerMinute
            configuration.keys = try EncryptionKeys.from()
            configuration.tls = tls
            let pool = PGConnectionPool(maximum: poolSize) {
                try await PGConnection.connect(url, applicationName: "herald-serve", logger: logger)
            }
            let server = try APIServer(configuration: configuration, pool: pool, logger: logger)
            let pinger = DatabasePinger(pool: pool, schema: schema, contact: server.contact, logger: logger)
            var config = ServiceGroupConfiguration(
                services: [.init(service: server), .init(service: pinger)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            config.maximumGracefulShutdownDuration = try DurationText.parse(shutdownGrace, name: "--shutdown-grace")
            config.maximumCancellationDuration = .seconds(5)
            try await ServiceGroup(configuration: config).run()
        }
    }
}
