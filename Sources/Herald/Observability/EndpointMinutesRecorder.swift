internal import Foundation
internal import Logging
internal import PGDriver
internal import Synchronization

/// A worker's finished sends per endpoint and minute, written to `endpoint_minutes` every sample
/// interval by the ``QueueSampler`` and once more when the worker stops.
///
/// Not in the lease's transaction: steady successes write nothing there on purpose (a row that every send
/// of a busy endpoint updated would serialise the fleet's commits on it). A worker killed between two
/// writes loses its counts since the last one (up to the sample interval, 10 s by default); the attempts
/// table keeps every send. A write whose answer was lost after its commit is put back and counted twice.
final class EndpointMinutesRecorder: Sendable {
    private let pending = Mutex(EndpointMinutes())
    private let now: @Sendable () -> Date

    init(now: @escaping @Sendable () -> Date = Date.init) { self.now = now }

    /// Counts a round's sends whose outcomes were committed: one clock read and one lock per round.
    func record(_ sends: [(endpointID: Int64, delivered: Bool, durationMilliseconds: Int)]) {
        guard !sends.isEmpty else { return }
        let at = now()
        pending.withLock { minutes in
            for send in sends {
                minutes.record(endpointID: send.endpointID, at: at, delivered: send.delivered, durationMilliseconds: send.durationMilliseconds)
            }
        }
    }

    /// What was counted since the last write.
    var counted: EndpointMinutes { pending.withLock { $0 } }

    /// Adds what was counted to `endpoint_minutes`; on failure it is kept for the next write.
    func write(store: EndpointMinutesStore, on connection: PGConnection) async throws {
        let taken = pending.withLock { value in
            defer { value = EndpointMinutes() }
            return value
        }
        guard !taken.isEmpty else { return }
        do {
            _ = try await connection.query(store.addQuery(taken))
        } catch {
            pending.withLock { $0.merge(taken) }
            throw error
        }
    }

    /// The last write, when the worker stops: on a connection of its own, since the sampler's is closed by then.
    func writeFinal(connectionString: String, store: EndpointMinutesStore, logger: Logger) async {
        guard !counted.isEmpty else { return }
        do {
            let connection = try await PGConnection.connect(connectionString, applicationName: "herald-sampler", logger: logger)
            do {
                try await write(store: store, on: connection)
                await connection.close()
            } catch {
                await connection.close()
                throw error
            }
        } catch {
            logger.warning("the last endpoint counts could not be written; endpoint_health will miss them", metadata: ["error": "\(error)"])
        }
    }
}
