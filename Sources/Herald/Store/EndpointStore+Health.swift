public import Foundation
public import PGDriver

extension EndpointStore {
    /// One endpoint's last hour as the `endpoint_health` view (migrations/0013) computes it.
    ///
    /// Why the view and not a query of its own: docs/audit.md tells operators to read that view, so the
    /// console and a `psql` session show the same numbers.
    public struct Health: Sendable, Hashable, Codable {
        public var endpointID: Int64
        public var applicationID: String
        public var url: String
        public var enabled: Bool
        public var disabledReason: String?
        /// Since when every attempt failed; nil after a success.
        public var failingSince: Date?
        /// Attempts started within the last hour.
        public var attempts: Int
        /// Share of those attempts delivered, in percent; nil without attempts.
        public var successPercent: Double?
        /// The 95th percentile of their durations in milliseconds; nil without timed attempts.
        public var p95Milliseconds: Double?
        /// Deliveries waiting for this endpoint.
        public var pending: Int
        /// `closed`, `open` (or `half_open` once the cool-down is over) from the endpoint's breaker.
        public var breakerState: String
    }

    /// Every endpoint's health, or one application's, by application then id; `limit` at most.
    public func endpointHealthList(application: String?, limit: Int, on connection: PGConnection) async throws -> [Health] {
        try await DatabaseErrors.mapping {
            try await connection.query(
                """
                SELECT h.endpoint_id, h.application_id, h.url, h.enabled, h.disabled_reason, h.failing_since,
                       h.attempts_1h::int AS attempts, h.success_pct_1h::float8 AS success_pct, h.p95_ms_1h::float8 AS p95_ms,
                       h.pending::int AS pending, h.breaker_state
                FROM \(unescaped: schema.qualified("endpoint_health")) h
                WHERE (\(application)::text IS NULL OR h.application_id = \(application)::text)
                ORDER BY h.application_id, h.endpoint_id LIMIT \(limit)
                """
            ).rows.map { row in
                Health(
                    endpointID: try row.decode("endpoint_id"), applicationID: try row.decode("application_id"), url: try row.decode("url"),
                    enabled: try row.decode("enabled"), disabledReason: try row.decode("disabled_reason"),
                    failingSince: try row.decode("failing_since"), attempts: try row.decode("attempts"),
                    successPercent: try row.decode("success_pct"), p95Milliseconds: try row.decode("p95_ms"),
                    pending: try row.decode("pending"), breakerState: try row.decode("breaker_state"))
            }
        }
    }
}
