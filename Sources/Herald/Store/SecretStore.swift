internal import PGDriver

/// The statements that seal signing secrets and producer headers at rest, a batch at a time.
///
/// Scans go by primary key from a cursor, without locks: a batch reads up to `limit` rows after the
/// cursor, Herald seals in Swift what needs it, and writes each row back only if it still holds what was
/// read (so a concurrent rotation or replay is never overwritten). A row leased by a worker makes the
/// write wait for that lease's commit; leases skip locked rows, so neither side deadlocks.
struct SecretStore {
    let schema: SchemaName

    /// One endpoint's stored secrets, and its extra request headers (which may hold credentials).
    struct EndpointSecrets: Sendable, Encodable {
        var id: Int64
        var secret: String
        var previous_secret: String?
        var headers: [String: String] = [:]
    }

    /// One delivery's stored headers.
    struct DeliveryHeaders: Sendable, Encodable {
        var id: Int64
        var headers: [String: String]
    }

    func endpointsAfter(_ cursor: Int64, limit: Int, on connection: PGConnection) async throws -> [EndpointSecrets] {
        try await connection.query(
            """
            SELECT id, secret, previous_secret, headers FROM \(unescaped: schema.qualified("endpoints"))
            WHERE id > \(cursor) ORDER BY id LIMIT \(limit)
            """
        ).rows.map {
            EndpointSecrets(
                id: try $0.decode("id"), secret: try $0.decode("secret"), previous_secret: try $0.decode("previous_secret"),
                // Hand-written headers that are not a string map are left alone (the lease fails their deliveries
                // with the reason); the row's write then never matches, so nothing of it is overwritten.
                headers: (try? $0.decode("headers", as: PGJSON.self).decode([String: String].self)) ?? [:])
        }
    }

    /// Writes `sealed` (secrets and headers) where each endpoint still holds `old`; returns how many rows changed.
    func endpointsSetSecrets(_ sealed: [EndpointSecrets], old: [EndpointSecrets], on connection: PGConnection) async throws -> Int {
        guard !sealed.isEmpty else { return 0 }
        let rows = try PGJSON(encoding: sealed)
        let before = try PGJSON(encoding: old)
        return try await connection.query(
            """
            UPDATE \(unescaped: schema.qualified("endpoints")) e
            SET secret = n.secret, previous_secret = n.previous_secret, headers = n.headers
            FROM jsonb_to_recordset(\(rows)::jsonb) AS n(id bigint, secret text, previous_secret text, headers jsonb),
                 jsonb_to_recordset(\(before)::jsonb) AS o(id bigint, secret text, previous_secret text, headers jsonb)
            WHERE e.id = n.id AND o.id = n.id AND e.secret = o.secret AND e.previous_secret IS NOT DISTINCT FROM o.previous_secret
              AND e.headers = o.headers
            """
        ).affectedRows
    }

    func deliveriesAfter(_ cursor: Int64, limit: Int, on connection: PGConnection) async throws -> [DeliveryHeaders] {
        try await connection.query(
            """
            SELECT id, headers FROM \(unescaped: schema.qualified("deliveries"))
            WHERE id > \(cursor) ORDER BY id LIMIT \(limit)
            """
        ).rows.map { DeliveryHeaders(id: try $0.decode("id"), headers: try $0.decode("headers", as: PGJSON.self).decode([String: String].self)) }
    }

    /// Writes `sealed` where each delivery still holds `old`; returns how many rows changed.
    func deliveriesSetHeaders(_ sealed: [DeliveryHeaders], old: [DeliveryHeaders], on connection: PGConnection) async throws -> Int {
        guard !sealed.isEmpty else { return 0 }
        let rows = try PGJSON(encoding: sealed)
        let before = try PGJSON(encoding: old)
        return try await connection.query(
            """
            UPDATE \(unescaped: schema.qualified("deliveries")) d
            SET headers = n.headers
            FROM jsonb_to_recordset(\(rows)::jsonb) AS n(id bigint, headers jsonb),
                 jsonb_to_recordset(\(before)::jsonb) AS o(id bigint, headers jsonb)
            WHERE d.id = n.id AND o.id = n.id AND d.headers = o.headers
            """
        ).affectedRows
    }

    /// How many endpoint secrets are in clear, and how many are sealed under each key id. Endpoints only:
    /// counting deliveries would scan the queue on every `herald status`.
    func endpointCensus(on connection: PGConnection) async throws -> (clear: Int, byKey: [String: Int]) {
        let rows = try await connection.query(
            """
            SELECT coalesce(substring(v FROM '^sealed:v1:(k[0-9a-f]{8}):'), '') AS key, count(*)::int AS n FROM (
                SELECT secret AS v FROM \(unescaped: schema.qualified("endpoints"))
                UNION ALL SELECT previous_secret FROM \(unescaped: schema.qualified("endpoints")) WHERE previous_secret IS NOT NULL
            ) s GROUP BY 1
            """
        ).rows
        var clear = 0
        var byKey: [String: Int] = [:]
        for row in rows {
            let key: String = try row.decode("key")
            let n: Int = try row.decode("n")
            if key.isEmpty { clear += n } else { byKey[key] = n }
        }
        return (clear, byKey)
    }
}
