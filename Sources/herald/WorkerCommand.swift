import ArgumentParser
import Foundation
import Herald
import Logging
import ServiceLifecycle

/// `herald worker`: leases and delivers webhooks until SIGTERM/SIGINT.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Deliver due webhooks until stopped (SIGTERM/SIGINT stop gracefully).",
        discussion: """
            Each of --concurrency slots holds one database connection. A slot leases up to --batch-size due
            deliveries with SELECT … FOR NO KEY UPDATE SKIP LOCKED, each with a permit of its endpoint (so the
            fleet never has more requests in flight to an endpoint than its adaptive window; see
            docs/flow_control.md), sends them all at once while the lease is held, and records
            the outcomes and attempt rows in the same transaction. Run as many worker processes as you like
            against one database. On SIGTERM the worker stops leasing, finishes its sends in flight (up to
            --shutdown-grace) and exits 0.

            Examples:
              herald worker --concurrency 16
              herald worker --concurrency 4 --batch-size 8 --max-attempts 5 --backoff-base 10s

            Exit codes: 0 stopped on a signal; 1 could not start (database unreachable, schema not migrated);
            64 invalid arguments.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Slots (database connections) sending in parallel, 1-1024.")
    var concurrency: Int = 8

    @Option(help: "Deliveries one slot leases and sends together, 1-256.")
    var batchSize: Int = 16

    @Option(help: "Requests in flight to one endpoint across all workers, at most, unless the endpoint sets its own (endpoints set --max-in-flight), 1-10000.")
    var maxInFlightPerEndpoint: Int = 128

    @Option(help: "How often idle slots poll when no notification arrives.")
    var pollInterval: String = "1s"

    @Option(help: "TCP connect timeout per request.")
    var connectTimeout: String = "5s"

    @Option(help: "Whole-request timeout per request, response included.")
    var requestTimeout: String = "15s"

    @Option(help: "Attempts per delivery unless the endpoint or delivery says otherwise, 1-50.")
    var maxAttempts: Int = 8

    @Option(help: "Ceiling of the first retry's wait (full jitter), at least 1s.")
    var backoffBase: String = "5s"

    @Option(help: "Largest retry wait.")
    var backoffCap: String = "10h"

    @Option(help: "Growth of the retry wait per attempt.")
    var backoffFactor: Double = 8

    @Option(help: "Consecutive retryable failures that open an endpoint's circuit breaker, 1-1000.")
    var breakerThreshold: Int = 5

    @Option(help: "How long an open breaker stays open before one probe is sent.")
    var breakerCooldown: String = "30s"

    @Option(help: "Longest cool-down; it doubles on each consecutive trip up to this.")
    var breakerCooldownCap: String = "10m"

    @Option(help: "Longest wait for sends in flight on shutdown before they are abandoned (rolled back).")
    var shutdownGrace: String = "30s"

    @Option(help: "Park a delivery as dead after this many consecutive sends that never finished (worker killed or wedged), 1-100.")
    var poisonThreshold: Int = 3

    @Flag(help: "Allow sends to loopback, private, link-local and other non-global addresses (off: SSRF guard; also HERALD_ALLOW_PRIVATE_NETWORKS=1|true|yes|on). The startup line logs ssrf_guard=on|off.")
    var allowPrivateNetworks = false

    @Option(help: "Serve /metrics, /healthz and /readyz on this port (off unless given).")
    var metricsPort: Int?

    @Option(help: "Address the metrics server binds to (127.0.0.1: this machine only; 0.0.0.0 in a container whose port is published).")
    var metricsHost: String = MetricsServer.defaultHost

    @Option(help: "How often queue depth and lag are sampled for the metrics.")
    var sampleInterval: String = "10s"

    @Option(help: "How often the worker records its heartbeat for `herald workers` (100ms-5m); silent after 3 missed.")
    var heartbeatInterval: String = "5s"

    @Option(help: "Disable an endpoint when every attempt to it failed for this long (no success in between), or off. A 410 Gone disables at once.")
    var disableFailingAfter: String = "5d"

    @Option(help: "Name in the attempt log (default host-pid-random).")
    var workerID: String?

    func makeConfiguration() throws -> WorkerConfiguration {
        var c = WorkerConfiguration(connectionString: connection.connectionString, schema: try connection.resolvedSchema(), workerID: workerID)
        c.concurrency = concurrency
        c.batchSize = batchSize
        c.maxInFlightPerEndpoint = maxInFlightPerEndpoint
        c.pollInterval = try DurationText.parse(pollInterval, name: "--poll-interval")
        c.connectTimeout = try DurationText.parse(connectTimeout, name: "--connect-timeout")
        c.requestTimeout = try DurationText.parse(requestTimeout, name: "--request-timeout")
        c.poisonThreshold = poisonThreshold
        let fromEnvironment = try ProcessInfo.processInfo.environment["HERALD_ALLOW_PRIVATE_NETWORKS"].map {
            try BooleanText.parse($0, name: "HERALD_ALLOW_PRIVATE_NETWORKS")
        }
        c.allowPrivateNetworks = allowPrivateNetworks || fromEnvironment == true
        c.sampleInterval = try DurationText.parse(sampleInterval, name: "--sample-interval")
        c.heartbeatInterval = try DurationText.parse(heartbeatInterval, name: "--heartbeat-interval")
        c.disableFailingAfter = disableFailingAfter.lowercased() == "off"
            ? nil : try DurationText.parse(disableFailingAfter, name: "--disable-failing-after")
        c.encryption = try EncryptionKeys.from()
        c.retryPolicy = try RetryPolicy(
            maxAttempts: maxAttempts, base: try DurationText.parse(backoffBase, name: "--backoff-base"),
            cap: try DurationText.parse(backoffCap, name: "--backoff-cap"), factor: backoffFactor)
        c.breakerPolicy = try BreakerPolicy(
            failureThreshold: breakerThreshold, cooldown: try DurationText.parse(breakerCooldown, name: "--breaker-cooldown"),
            cooldownCap: try DurationText.parse(breakerCooldownCap, name: "--breaker-cooldown-cap"))
        try c.validate()
        return c
    }

    func validate() throws {
        do {
            _ = try makeConfiguration()
            _ = try DurationText.parse(shutdownGrace, name: "--shutdown-grace")
            if let metricsPort, !(1...65535).contains(metricsPort) { throw HeraldError.invalid("--metrics-port must be between 1 and 65535, got \(metricsPort)") }
        } catch let error as HeraldError {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        try await CommandRunner.run(connection) { logger in
            let worker = try Worker(configuration: try makeConfiguration(), logger: logger)
            try await worker.checkSchema()
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: worker)]
            if let metricsPort {
                // Bound before the worker starts: a busy port stops startup with a message naming the flag.
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
            config.maximumGracefulShutdownDuration = try DurationText.parse(shutdownGrace, name: "--shutdown-grace")
            config.maximumCancellationDuration = .seconds(5)
            try await ServiceGroup(configuration: config).run()
        }
    }
}
