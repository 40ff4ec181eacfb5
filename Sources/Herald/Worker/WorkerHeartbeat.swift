internal import Foundation
internal import Logging
internal import PGDriver
public import ServiceLifecycle

/// Upserts this worker's row in `worker_heartbeats` every ``WorkerConfiguration/heartbeatInterval``, so
/// `herald workers` shows the fleet: who runs where, with how many slots, how busy, and who went silent.
///
/// A `Service` on its own connection (a slow or failed heartbeat never holds up a slot), reconnecting with
/// ``ReconnectBackoff`` after a failure. On graceful shutdown it marks the row stopped, on a fresh short
/// connection, so an orderly stop is not mistaken for a crash; a killed worker simply falls silent.
public struct WorkerHeartbeat: Service {
    let configuration: WorkerConfiguration
    let sends: SendTally
    let contact: DatabaseContact
    let logger: Logger
    /// Looked up once: on some systems the lookup asks the resolver, which a heartbeat must not wait on.
    let host = ProcessInfo.processInfo.hostName

    init(configuration: WorkerConfiguration, sends: SendTally, contact: DatabaseContact, logger: Logger) {
        self.configuration = configuration
        self.sends = sends
        self.contact = contact
        self.logger = logger
    }

    var store: WorkerHeartbeatStore { WorkerHeartbeatStore(schema: configuration.schema) }

    public func run() async {
        await cancelWhenGracefulShutdown { await beatUntilCancelled() }
        // Cancelled outright (not a graceful shutdown): the process is going down hard, say nothing.
        if Task.isShuttingDownGracefully, !Task.isCancelled { await markStopped() }
    }

    func beat(first: Bool) -> WorkerHeartbeatStore.Beat {
        WorkerHeartbeatStore.Beat(
            workerID: configuration.workerID, host: host, pid: Int(getpid()),
            version: HeraldVersion.current, slots: configuration.concurrency, sendsInFlight: sends.inFlight,
            secondsSinceLastSend: sends.secondsSinceLastStart, interval: configuration.heartbeatInterval, first: first)
    }

    private func beatUntilCancelled() async {
        var connection: PGConnection?
        var backoff = ReconnectBackoff()
        var random = SystemRandomNumberGenerator()
        var first = true
        while !Task.isCancelled {
            var wait = configuration.heartbeatInterval
            do {
                if connection == nil || connection!.isClosed {
                    connection = try await PGConnection.connect(
                        configuration.connectionString, applicationName: "herald-heartbeat", logger: logger)
                }
                try await store.workerBeat(beat(first: first), on: connection!)
                first = false
                contact.record()
                backoff.reset()
            } catch is CancellationError {
                break
            } catch {
                logger.debug("heartbeat failed", metadata: ["error": "\(error)"])
                await connection?.close()
                connection = nil
                wait = min(wait, backoff.next(using: &random))
            }
            try? await Task.sleep(for: wait)
        }
        await connection?.close()
    }

    private func markStopped() async {
        let connection: PGConnection
        do {
            connection = try await PGConnection.connect(configuration.connectionString, applicationName: "herald-heartbeat", logger: logger)
        } catch {
            return logger.debug("could not mark the worker stopped", metadata: ["error": "\(error)"])
        }
        do {
            try await store.workerStop(workerID: configuration.workerID, sendsInFlight: sends.inFlight, on: connection)
        } catch {
            logger.debug("could not mark the worker stopped", metadata: ["error": "\(error)"])
        }
        await connection.close()
    }
}
