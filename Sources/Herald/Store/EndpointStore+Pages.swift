public import PGDriver

extension EndpointStore {
    /// Endpoints of `application` by id, after `after` (exclusive), `limit` at most; never their secrets, never deleted ones.
    public func endpointPage(application: String, after: Int64?, limit: Int, on connection: PGConnection) async throws -> Page<Endpoint> {
        let query = PGQuery(
            sql: selectSQL + " WHERE e.application_id = $1 AND e.deleted_at IS NULL AND ($2::bigint IS NULL OR e.id > $2::bigint) ORDER BY e.id LIMIT $3",
            binds: [application.pgBind, after.map(\.pgBind) ?? .null, (limit + 1).pgBind])
        return try await DatabaseErrors.mapping {
            Page(rows: try await connection.query(query).rows.map { try decode($0, withSecret: false) }, limit: limit)
        }
    }
}
