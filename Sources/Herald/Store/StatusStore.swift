internal import Foundation
public import PGDriver

/// The one-screen summary of `herald status`.
public struct StatusStore: Sendable {
    public let schema: SchemaName

    public init(schema: SchemaName) { self.schema = schema }

    /// What `herald status` prints.
    public struct Status: Sendable, Codable {
        /// Deliveries per state (every state present, zero included).
        public var states: [String: Int]
        /// Age in seconds of the oldest delivery that is due and not yet sent (0 when none): the lag.
        public var lagSeconds: Double
        /// Pending deliveries due now.
        public var due: Int
        /// Deliveries delivered per minute, averaged over the last 5 minutes.
        public var deliveredPerMinute: Double
        /// Attempts per minute over the last 5 minutes.
        public var attemptsPerMinute: Double
        /// Keys of breakers that are open or half-open.
        public var openBreakers: [String]
        /// Workers heard from within 3 of their heartbeat intervals and not stopped (`herald workers`).
        public var liveWorkers: Int
    }

    /// The summary; with `application`, deliveries, lag and rates count only that application's endpoints
    /// (breakers and workers are fleet-wide either way).
    public func status(application: String? = nil, on connection: PGConnection) async throws -> Status {
        // Without an application the statements read the tables alone, as before: no join on the hot path.
        let deliveries = application == nil
            ? "\(schema.qualified("deliveries")) d"
            : "\(schema.qualified("deliveries")) d JOIN \(schema.qualified("endpoints")) e ON e.id = d.endpoint_id AND e.application_id = $1"
        let binds = application.map { [$0.pgBind] } ?? []
        let counts = try await connection.query(PGQuery(sql: "SELECT d.state, count(*)::int AS n FROM \(deliveries) GROUP BY d.state", binds: binds))
        var states = Dictionary(uniqueKeysWithValues: DeliveryState.allCases.map { ($0.rawValue, 0) })
        for row in counts.rows { states[try row.decode("state")] = try row.decode("n") }
        let row = try await connection.query(
            PGQuery(
                sql: """
                    SELECT coalesce(extract(epoch FROM now() - min(d.next_attempt_at)), 0)::float8 AS lag, count(*)::int AS due
                    FROM \(deliveries) WHERE d.state = 'pending' AND d.next_attempt_at <= now()
                    """, binds: binds))
        let attempts = application == nil
            ? "\(schema.qualified("attempts")) a"
            : "\(schema.qualified("attempts")) a JOIN \(deliveries) ON d.id = a.delivery_id"
        let rates = try await connection.query(
            PGQuery(
                sql: """
                    SELECT (count(*) FILTER (WHERE a.outcome = 'delivered') / 5.0)::float8 AS delivered, (count(*) / 5.0)::float8 AS attempts
                    FROM \(attempts) WHERE a.started_at > now() - interval '5 minutes'
                    """, binds: binds))
        let breakers = try await connection.query(
            PGQuery(sql: "SELECT key FROM \(schema.qualified("circuit_breakers")) WHERE state <> 'closed' ORDER BY key"))
        return Status(
            states: states, lagSeconds: try row.first?.decode("lag") ?? 0, due: try row.first?.decode("due") ?? 0,
            deliveredPerMinute: try rates.first?.decode("delivered") ?? 0, attemptsPerMinute: try rates.first?.decode("attempts") ?? 0,
            openBreakers: try breakers.rows.map { try $0.decode("key") },
            liveWorkers: try await WorkerHeartbeatStore(schema: schema).workerCountLive(on: connection))
    }
}
