internal import Foundation
internal import Logging
internal import PGDriver

/// Writes attempt rows before their sends, on a connection of its own, committed at once.
///
/// Why a second connection: the lease transaction commits only after the sends; a worker killed mid-send
/// rolls it back, and the attempt would vanish from the log. Rows written here survive with outcome
/// `unknown`, so the log agrees with what the receiver saw, and poison deliveries (whose sends kill
/// workers) can be counted. One journal serves all slots of a worker: one short statement per batch,
/// which also reserves the rate limits of the batch's keys (autocommitted, so no breaker row stays
/// locked across a send).
actor AttemptJournal {
    let connectionString: String
    let store: DeliveryStore
    let logger: Logger
    private var connection: PGConnection?

    init(connectionString: String, store: DeliveryStore, logger: Logger) {
        self.connectionString = connectionString
        self.store = store
        self.logger = logger
    }

    /// What the journal said of one send.
    enum Entry: Sendable, Equatable {
        /// On record: its attempt row.
        case recorded(attemptID: Int64)
        /// Refused by its key's rate limit: not before this time (database clock); no row written.
        case rateLimited(until: Date)
    }

    /// Records `markers`; returns what became of each delivery. Throws if the rows could not be written,
    /// and then nothing may be sent.
    func begin(_ markers: [AttemptMarker]) async throws -> [Int64: Entry] {
        guard !markers.isEmpty else { return [:] }
        let result = try await runRetryingOnce(store.journalQuery(markers))
        var entries: [Int64: Entry] = [:]
        for row in result.rows {
            let id: Int64 = try row.decode("journal_delivery_id")
            if let attemptID = try row.decode("journal_attempt_id", as: Int64?.self) {
                entries[id] = .recorded(attemptID: attemptID)
            } else {
                entries[id] = .rateLimited(until: try row.decode("journal_not_before", as: Date.self))
            }
        }
        return entries
    }

    /// Settles the rows of a round that failed while this worker lived: sends that began become
    /// `interrupted` (never counted toward parking), rows of sends that never began are deleted. Best
    /// effort: if the database is unreachable the rows stay `unknown`, the conservative reading.
    func abandon(began: [Int64], neverBegan: [Int64], reason: String) async {
        guard !began.isEmpty || !neverBegan.isEmpty else { return }
        do {
            _ = try await runRetryingOnce(store.journalAbandonQuery(began: began, neverBegan: neverBegan, reason: reason))
        } catch {
            logger.warning(
                "could not mark interrupted sends; they stay 'unknown'",
                metadata: ["attempts": "\(began.count + neverBegan.count)", "error": "\(error)"])
        }
    }

    private func runRetryingOnce(_ query: PGQuery) async throws -> PGResult {
        do {
            return try await open().query(query)
        } catch let error as PGError where error.isConnectionProblem {
            // One retry on a fresh connection: the database may have restarted since the last batch.
            await connection?.close()
            connection = nil
            return try await open().query(query)
        }
    }

    private func open() async throws -> PGConnection {
        if let connection, !connection.isClosed { return connection }
        let fresh = try await PGConnection.connect(connectionString, applicationName: "herald-journal", logger: logger)
        connection = fresh
        return fresh
    }

    func close() async {
        await connection?.close()
        connection = nil
    }
}
