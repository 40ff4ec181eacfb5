public import Foundation
public import PGDriver

/// Reading and resetting circuit breakers, for `herald breakers`.
public struct BreakerStore: Sendable {
    public let schema: SchemaName

    public init(schema: SchemaName) { self.schema = schema }

    /// One breaker as an operator sees it.
    public struct Breaker: Sendable, Hashable, Codable {
        public var key: String
        /// `closed`, `open`, or `half_open` (open with its cool-down over: the next due delivery probes).
        public var state: String
        public var consecutiveFailures: Int
        public var trips: Int
        public var openUntil: Date?
        public var totalSuccesses: Int64
        public var totalFailures: Int64
        public var pendingDeliveries: Int
        public var lastTransition: String?
        public var updatedAt: Date
    }

    /// Every breaker, open ones first.
    public func list(on connection: PGConnection) async throws -> [Breaker] {
        let result = try await connection.query(
            """
            SELECT b.key,
                   CASE WHEN b.state = 'open' AND b.open_until <= now() THEN 'half_open' ELSE b.state END AS shown_state,
                   b.consecutive_failures, b.trips, b.open_until, b.total_successes, b.total_failures, b.updated_at,
                   (SELECT count(*) FROM \(unescaped: schema.qualified("deliveries")) d
                    WHERE d.breaker_key = b.key AND d.state = 'pending')::int AS pending,
                   (SELECT e.from_state || ' → ' || e.to_state || ': ' || e.reason
                    FROM \(unescaped: schema.qualified("circuit_breaker_events")) e
                    WHERE e.breaker_key = b.key ORDER BY e.id DESC LIMIT 1) AS last_transition
            FROM \(unescaped: schema.qualified("circuit_breakers")) b
            ORDER BY b.state = 'closed', b.key
            """)
        return try result.rows.map { row in
            Breaker(
                key: try row.decode("key"), state: try row.decode("shown_state"), consecutiveFailures: try row.decode("consecutive_failures"),
                trips: try row.decode("trips"), openUntil: try row.decode("open_until"), totalSuccesses: try row.decode("total_successes"),
                totalFailures: try row.decode("total_failures"), pendingDeliveries: try row.decode("pending"),
                lastTransition: try row.decode("last_transition"), updatedAt: try row.decode("updated_at"))
        }
    }

    /// Closes a breaker and makes the deliveries it held back due now; false when no such breaker exists.
    public func reset(key: String, on connection: PGConnection) async throws -> Bool {
        try await connection.query("SELECT \(unescaped: schema.qualified("breaker_reset"))(\(key)) AS found").first?.decode("found") ?? false
    }
}
