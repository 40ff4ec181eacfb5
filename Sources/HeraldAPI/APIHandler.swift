internal import Foundation
internal import Herald
internal import PGDriver

/// The `/v1` operations of openapi.yaml: each checks the caller's scope, calls one store, maps its
/// records to the generated types. No SQL and no validation rules here: both are the stores' (and the SQL
/// functions') alone. One file per resource: `APIHandler+Applications.swift`, …
struct APIHandler: APIProtocol {
    let schema: SchemaName
    let pool: PGConnectionPool
    let contact: DatabaseContact
    /// Seal endpoint secrets and headers written (HERALD_ENCRYPTION_KEY); nil stores them in clear.
    let keys: EncryptionKeys?

    /// Runs `body` on a pooled connection and records the database contact for `/readyz`.
    func database<T: Sendable>(_ body: @Sendable (PGConnection) async throws -> T) async throws -> T {
        let result = try await pool.withConnection(body)
        contact.record()
        return result
    }

    /// The page's `iterator` and `done`: the cursor of the last item when more follow.
    static func continuation(list: String, hasMore: Bool, lastKey: String?) -> (iterator: String?, done: Bool) {
        guard hasMore, let lastKey else { return (nil, true) }
        return (PageCursor(list: list, key: lastKey).encoded, false)
    }
}
