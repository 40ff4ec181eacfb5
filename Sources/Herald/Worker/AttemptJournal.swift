internal import Logging
internal import PGDriver

/// Writes attempt rows before their sends, on a connection of its own, committed at once.
///
/// Why a second connection: the lease transaction commits only after the sends; a worker killed mid-send
/// rolls it back, and the attempt would vanish from the log. Rows written here survive with outcome
/// `unknown`, so the log agrees with what the receiver saw, and poison deliveries (whose sends kill
/// workers) can be counted. One journal serves all slots of a worker: one short insert per batch.
actor AttemptJournal {
    let connectionString: String
    let store: DeliveryStore
    let contact: DatabaseContact
    let logger: Logger
    private var connection: PGConnection?

    init(connectionString: String, store: DeliveryStore, contact: DatabaseContact, logger: Logger) {
        self.connectionString = connectionString
        self.store = store
        self.contact = contact
        self.logger = logger
    }

    /// Records `markers`; returns each delivery's new attempt row id. Throws if the rows could not be
    /// written, and then nothing may be sent.
    func begin(_ markers: [AttemptMarker]) async throws -> [Int64: Int64] {
        guard !markers.isEmpty else { return [:] }
        let query = store.journalQuery(markers)
        let result: PGResult
        do {
            result = try await open().query(query)
        } catch let error as PGError where error.isConnectionProblem {
            // One retry on a fresh connection: the database may have restarted since the last batch.
            await connection?.close()
            connection = nil
            result = try await open().query(query)
        }
        contact.record()
        var ids: [Int64: Int64] = [:]
        for row in result.rows { ids[try row.decode("delivery_id")] = try row.decode("id") }
        return ids
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
