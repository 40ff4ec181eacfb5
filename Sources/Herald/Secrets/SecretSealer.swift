public import PGDriver

/// Seals what is stored in clear, or under a key other than the current one, a batch at a time.
///
/// Used by the worker in the background (values that `enqueue` wrote in clear are sealed within seconds)
/// and by `herald secrets rotate-key` (everything, once, after a new key was put first).
public struct SecretSealer: Sendable {
    let keys: EncryptionKeys
    let store: SecretStore
    /// Rows read per table and batch. Default 500.
    let batchSize: Int

    /// Where a pass has got to; a new value starts from the first row.
    public struct Progress: Sendable {
        var endpointCursor: Int64 = 0
        var deliveryCursor: Int64 = 0
        /// Values sealed so far.
        public internal(set) var sealed = 0
        public init() {}

        /// Moves both cursors back by `rows` ids. Why: ids are taken when an enqueue starts, rows become
        /// visible when it commits, so a row can appear behind a cursor that already passed its id.
        /// Revisiting the newest ids on every pass catches those; rows already sealed are only read.
        public mutating func rewind(by rows: Int64) {
            endpointCursor = max(0, endpointCursor - rows)
            deliveryCursor = max(0, deliveryCursor - rows)
        }
    }

    public init(keys: EncryptionKeys, schema: SchemaName, batchSize: Int = 500) {
        self.keys = keys
        store = SecretStore(schema: schema)
        self.batchSize = batchSize
    }

    /// Seals one batch of each table after the cursors; returns whether there may be more rows after them.
    public func sealBatch(_ progress: inout Progress, on connection: PGConnection) async throws -> Bool {
        let endpoints = try await store.endpointsAfter(progress.endpointCursor, limit: batchSize, on: connection)
        var newEndpoints: [SecretStore.EndpointSecrets] = []
        var oldEndpoints: [SecretStore.EndpointSecrets] = []
        for row in endpoints {
            var sealed = row
            if keys.needsSealing(row.secret) { sealed.secret = try keys.seal(keys.open(row.secret, for: .endpointSecret), for: .endpointSecret) }
            if let previous = row.previous_secret, keys.needsSealing(previous) {
                sealed.previous_secret = try keys.seal(keys.open(previous, for: .endpointSecret), for: .endpointSecret)
            }
            // Endpoint headers (e.g. the receiver's Authorization) are sealed like a delivery's.
            if !row.headers.isEmpty { sealed.headers = try keys.seal(headers: row.headers) }
            if sealed.secret != row.secret || sealed.previous_secret != row.previous_secret || sealed.headers != row.headers {
                newEndpoints.append(sealed)
                oldEndpoints.append(row)
            }
        }
        progress.sealed += try await store.endpointsSetSecrets(newEndpoints, old: oldEndpoints, on: connection)
        if let last = endpoints.last { progress.endpointCursor = last.id }

        let deliveries = try await store.deliveriesAfter(progress.deliveryCursor, limit: batchSize, on: connection)
        var newDeliveries: [SecretStore.DeliveryHeaders] = []
        var oldDeliveries: [SecretStore.DeliveryHeaders] = []
        for row in deliveries where !row.headers.isEmpty {
            let sealed = try keys.seal(headers: row.headers)
            if sealed != row.headers {
                newDeliveries.append(.init(id: row.id, headers: sealed))
                oldDeliveries.append(row)
            }
        }
        progress.sealed += try await store.deliveriesSetHeaders(newDeliveries, old: oldDeliveries, on: connection)
        if let last = deliveries.last { progress.deliveryCursor = last.id }
        return endpoints.count == batchSize || deliveries.count == batchSize
    }
}
