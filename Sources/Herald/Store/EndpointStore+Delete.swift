public import PGDriver

extension EndpointStore {
    /// Deletes an endpoint through the SQL `endpoint_delete` (migrations/0016): it disappears from lists,
    /// lookups and fan-out, its queued deliveries fail when due as a disabled endpoint's do, and its
    /// deliveries and attempts stay for the audit trail. Returns the endpoint as it was.
    ///
    /// Why not a plain `DELETE`: deliveries reference the endpoint and the timeline names its URL; a soft
    /// delete keeps that history whole, and the URL can be registered again.
    /// - Throws: ``HeraldError/Code/notFound`` when there is no such endpoint (or it was deleted already).
    @discardableResult
    public func delete(_ idOrURL: String, application: String? = nil, on connection: PGConnection) async throws -> Endpoint {
        let endpoint = try await find(idOrURL, application: application, on: connection)
        let deleted = try await DatabaseErrors.mapping {
            try await connection.query(
                "SELECT \(unescaped: schema.qualified("endpoint_delete"))(\(endpoint.id), NULL) AS deleted"
            ).first?.decode("deleted", as: Bool.self) ?? false
        }
        guard deleted else { throw HeraldError(.notFound, "endpoint \(endpoint.id) was deleted meanwhile") }
        return endpoint
    }
}
