public import Foundation
public import PGDriver

extension DeliveryAdminStore {
    /// Deliveries matching `filter`, created at or after `createdSince` and before `createdUntil`, newest
    /// first, before `before` (exclusive), `limit` at most.
    public func deliveryPage(
        _ filter: Filter, createdSince: Date?, createdUntil: Date? = nil, before: Int64?, limit: Int, on connection: PGConnection
    ) async throws -> Page<Delivery> {
        let condition = renumber(whereClause(filter), from: 4)
        let query = PGQuery(
            sql: """
                SELECT \(columns) FROM \(schema.qualified("deliveries")) d JOIN \(schema.qualified("endpoints")) e ON e.id = d.endpoint_id
                WHERE ($1::bigint IS NULL OR d.id < $1::bigint) AND ($2::timestamptz IS NULL OR d.created_at >= $2::timestamptz)
                  AND ($4::timestamptz IS NULL OR d.created_at < $4::timestamptz) AND \(condition.sql)
                ORDER BY d.id DESC LIMIT $3
                """,
            binds: [before.map(\.pgBind) ?? .null, createdSince.map(\.pgBind) ?? .null, (limit + 1).pgBind, createdUntil.map(\.pgBind) ?? .null] + condition.binds)
        return try await DatabaseErrors.mapping { Page(rows: try await connection.query(query).rows.map(decode), limit: limit) }
    }

    /// The application delivery `id` belongs to (through its endpoint), or nil for an unknown id.
    public func deliveryApplication(id: Int64, on connection: PGConnection) async throws -> String? {
        try await DatabaseErrors.mapping {
            try await connection.query(
                """
                SELECT e.application_id FROM \(unescaped: schema.qualified("deliveries")) d
                JOIN \(unescaped: schema.qualified("endpoints")) e ON e.id = d.endpoint_id WHERE d.id = \(id)
                """
            ).first?.decode("application_id")
        }
    }
}
