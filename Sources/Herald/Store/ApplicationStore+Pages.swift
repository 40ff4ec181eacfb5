public import PGDriver

extension ApplicationStore {
    /// Applications by id, after `after` (exclusive), `limit` at most; only `application` when given (an
    /// application token's view).
    public func applicationPage(after: String?, only application: String?, limit: Int, on connection: PGConnection) async throws -> Page<Application> {
        let query = PGQuery(
            sql: selectSQL + """

                WHERE ($1::text IS NULL OR a.id > $1::text) AND ($2::text IS NULL OR a.id = $2::text) AND a.id NOT LIKE '\\_%'
                ORDER BY a.id LIMIT $3
                """,
            binds: [after.map(\.pgBind) ?? .null, application.map(\.pgBind) ?? .null, (limit + 1).pgBind])
        return try await DatabaseErrors.mapping { Page(rows: try await connection.query(query).rows.map(decode), limit: limit) }
    }
}
