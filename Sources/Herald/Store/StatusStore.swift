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

    public func status(on connection: PGConnection) async throws -> Status {
        let deliveries = schema.qualified("deliveries")
        let counts = try await connection.query(PGQuery(sql: "SELECT state, count(*)::int AS n FROM \(deliveries) GROUP BY state"))
        var states = Dictionary(uniqueKeysWithValues: DeliveryState.allCases.map { ($0.rawValue, 0) })
        for row in counts.rows { states[try row.decode("state")] = try row.decode("n") }
        let row = try await connection.query(
            PGQuery(
                sql: """
                    SELECT coalesce(extract(epoch FROM now() - min(next_attempt_at)), 0)::float8 AS lag, count(*)::int AS due
                    FROM \(deliveries) WHERE state = 'pending' AND next_attempt_at <= now()
                    """))
        let rates = try await connection.query(
            PGQuery(
                sql: """
                    SELECT (count(*) FILTER (WHERE outcome = 'delivered') / 5.0)::float8 AS delivered, (count(*) / 5.0)::float8 AS attempts
                    FROM \(schema.qualified("attempts")) WHERE started_at > now() - interval '5 minutes'
                    """))
        let breakers = try await connection.query(
            PGQuery(sql: "SELECT key FROM \(schema.qualified("circuit_breakers")) WHERE state <> 'closed' ORDER BY key"))
        return Status(
            states: states, lagSeconds: try row.first?.decode("lag") ?? 0, due: try row.first?.decode("due") ?? 0,
            deliveredPerMinute: try rates.first?.decode("delivered") ?? 0, attemptsPerMinute: try rates.first?.decode("attempts") ?? 0,
            openBreakers: try breakers.rows.map { try $0.decode("key") },
            liveWorkers: try await WorkerHeartbeatStore(schema: schema).workerCountLive(on: connection))
    }
}
