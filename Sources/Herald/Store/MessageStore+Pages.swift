public import PGDriver

extension MessageStore {
    /// Messages of `application` newest first, before `before` (exclusive), `limit` at most.
    public func messagePage(application: String, before: Int64?, limit: Int, on connection: PGConnection) async throws -> Page<Message> {
        let query = PGQuery(
            sql: selectSQL + " WHERE m.application_id = $1 AND ($2::bigint IS NULL OR m.id < $2::bigint) ORDER BY m.id DESC LIMIT $3",
            binds: [application.pgBind, before.map(\.pgBind) ?? .null, (limit + 1).pgBind])
        return try await DatabaseErrors.mapping { Page(rows: try await connection.query(query).rows.map(decode), limit: limit) }
    }

    /// Whether message `id` belongs to `application` (a tenant's lookup: another's answers false, as a
    /// missing one does).
    public func messageBelongs(id: Int64, to application: String, on connection: PGConnection) async throws -> Bool {
        try await DatabaseErrors.mapping {
            try await connection.query(
                "SELECT 1 AS one FROM \(unescaped: schema.qualified("messages")) WHERE id = \(id) AND application_id = \(application)"
            ).first != nil
        }
    }
}
