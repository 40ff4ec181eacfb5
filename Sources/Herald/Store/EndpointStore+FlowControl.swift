public import PGDriver

extension EndpointStore {
    /// A change to an endpoint's flow-control settings: nil leaves a setting as it is; `.some(nil)` clears
    /// it back to the worker's default.
    public struct FlowControlChange: Sendable, Hashable {
        /// A hard cap on requests in flight to the endpoint across all workers (1…10000).
        public var maxInFlight: Int??
        public var rateLimit: RateLimit??
        /// FIFO: one request in flight, oldest first.
        public var ordered: Bool?

        public init(maxInFlight: Int?? = nil, rateLimit: RateLimit?? = nil, ordered: Bool? = nil) {
            self.maxInFlight = maxInFlight
            self.rateLimit = rateLimit
            self.ordered = ordered
        }

        public var isEmpty: Bool { maxInFlight == nil && rateLimit == nil && ordered == nil }

        /// - Throws: ``HeraldError/Code/invalidInput`` naming the setting out of range.
        public func validate() throws {
            if case .some(.some(let n)) = maxInFlight, !(1...10000).contains(n) {
                throw HeraldError.invalid("--max-in-flight must be between 1 and 10000, got \(n)")
            }
        }
    }

    /// Applies `change` to one endpoint (by id or URL) in one statement; returns the endpoint as it is now.
    /// Workers read the settings at every lease, so the change applies within one batch.
    public func setFlowControl(_ idOrURL: String, _ change: FlowControlChange, on connection: PGConnection) async throws -> Endpoint {
        try change.validate()
        let endpoint = try await find(idOrURL, on: connection)
        let maxInFlight: Int? = change.maxInFlight.flatMap { $0 }
        let rate: Int? = change.rateLimit.flatMap { $0 }?.perMinute
        try await connection.query(
            """
            UPDATE \(unescaped: schema.qualified("endpoints"))
            SET max_in_flight = CASE WHEN \(change.maxInFlight != nil) THEN \(maxInFlight)::integer ELSE max_in_flight END,
                rate_limit_per_minute = CASE WHEN \(change.rateLimit != nil) THEN \(rate)::integer ELSE rate_limit_per_minute END,
                ordered = coalesce(\(change.ordered)::boolean, ordered),
                updated_at = now()
            WHERE id = \(endpoint.id)
            """)
        return try await find(String(endpoint.id), on: connection)
    }
}
