public import PGDriver

extension EndpointStore {
    /// A change to an endpoint's per-endpoint settings: nil leaves a setting as it is; `.some(nil)` clears
    /// it (back to "every type", "every channel", or the worker's default).
    public struct SettingsChange: Sendable, Hashable {
        public var description: String?
        /// Exact types and prefix wildcards; `.some(nil)`: every type.
        public var eventTypes: [String]??
        /// `.some(nil)`: every message.
        public var channels: [String]??
        /// Headers added or replaced (values may be credentials: stored sealed when keys are configured).
        public var setHeaders: [String: String] = [:]
        /// Header names removed (any case).
        public var removeHeaders: [String] = []
        public var requestTimeout: Duration??
        public var maxAttempts: Int??
        public var backoffBase: Duration??
        public var backoffCap: Duration??
        /// --max-in-flight, --rate-limit, --ordered.
        public var flowControl = FlowControlChange()

        public init() {}

        public var isEmpty: Bool {
            description == nil && eventTypes == nil && channels == nil && setHeaders.isEmpty && removeHeaders.isEmpty
                && requestTimeout == nil && maxAttempts == nil && backoffBase == nil && backoffCap == nil && flowControl.isEmpty
        }

        /// The checks that need no database; event types, channels and headers are checked by the SQL
        /// functions publish and enqueue use.
        /// - Throws: ``HeraldError/Code/invalidInput`` naming the setting.
        public func validate() throws {
            try flowControl.validate()
            if let description, description.count > 1000 { throw HeraldError.invalid("--description must be at most 1000 characters") }
            if case .some(.some(let timeout)) = requestTimeout { _ = try EndpointStore.checkedTimeoutMilliseconds(timeout) }
            if case .some(.some(let n)) = maxAttempts, !(1...50).contains(n) {
                throw HeraldError.invalid("--max-attempts must be between 1 and 50, got \(n)")
            }
            if case .some(.some(let base)) = backoffBase, base < .seconds(1) { throw HeraldError.invalid("--backoff-base must be at least 1s") }
            if case .some(.some(let cap)) = backoffCap, cap < .seconds(1) { throw HeraldError.invalid("--backoff-cap must be at least 1s") }
            if case .some(.some(let base)) = backoffBase, case .some(.some(let cap)) = backoffCap, cap < base {
                throw HeraldError.invalid("--backoff-cap must be at least --backoff-base")
            }
            for name in removeHeaders where setHeaders.keys.contains(where: { $0.lowercased() == name.lowercased() }) {
                throw HeraldError.invalid("header \(name) is both set and removed")
            }
        }
    }

    /// Applies `change` to one endpoint in one transaction (the row locked while its headers are opened,
    /// merged and sealed again); returns the endpoint as it is now. Workers read the settings at every
    /// lease, so a change applies within one batch.
    /// - Throws: ``HeraldError/Code/invalidInput`` for a value Herald refuses (nothing changes).
    public func update(_ idOrURL: String, application: String? = nil, _ change: SettingsChange, on connection: PGConnection) async throws -> Endpoint {
        try change.validate()
        let endpoint = try await find(idOrURL, application: application, on: connection)
        let flow = change.flowControl
        let maxInFlight: Int? = flow.maxInFlight.flatMap { $0 }
        let rate: Int? = flow.rateLimit.flatMap { $0 }?.perMinute
        let types: PGJSON? = try change.eventTypes.flatMap { $0 }.map { try PGJSON(encoding: $0) }
        let channels: PGJSON? = try change.channels.flatMap { $0 }.map { try PGJSON(encoding: $0) }
        let timeout: Int? = try change.requestTimeout.flatMap { $0 }.map(Self.checkedTimeoutMilliseconds)
        let maxAttempts: Int? = change.maxAttempts.flatMap { $0 }
        let base: Int? = change.backoffBase.flatMap { $0 }.map { Int(($0.seconds * 1000).rounded()) }
        let cap: Int? = change.backoffCap.flatMap { $0 }.map { Int(($0.seconds * 1000).rounded()) }
        try await DatabaseErrors.mapping {
            try await connection.withTransaction { tx in
                try await checkSubscriptions(
                    eventTypes: change.eventTypes.flatMap { $0 }, channels: change.channels.flatMap { $0 }, on: tx)
                var headers: PGJSON? = nil
                if !change.setHeaders.isEmpty || !change.removeHeaders.isEmpty {
                    let current = try await tx.query(
                        "SELECT headers::text AS headers FROM \(unescaped: schema.qualified("endpoints")) WHERE id = \(endpoint.id) FOR UPDATE"
                    ).first?.decode("headers", as: PGJSON.self).decode([String: String].self) ?? [:]
                    var merged = try EncryptionKeys.open(headers: current, with: keys)
                    let dropped = Set((change.removeHeaders + Array(change.setHeaders.keys)).map { $0.lowercased() })
                    merged = merged.filter { !dropped.contains($0.key.lowercased()) }
                    merged.merge(change.setHeaders) { $1 }
                    // The same header checks as enqueue and publish (validate_payload raises 22023).
                    try await tx.query(
                        "SELECT \(unescaped: schema.qualified("validate_payload"))(''::bytea, \(try PGJSON(encoding: merged))::jsonb, 'application/json', NULL)")
                    headers = try stored(headers: merged)
                }
                try await tx.query(
                    """
                    UPDATE \(unescaped: schema.qualified("endpoints"))
                    SET description = coalesce(\(change.description)::text, description),
                        event_types = CASE WHEN \(change.eventTypes != nil)
                            THEN nullif(ARRAY(SELECT jsonb_array_elements_text(\(types)::jsonb)), '{}') ELSE event_types END,
                        channels = CASE WHEN \(change.channels != nil)
                            THEN nullif(ARRAY(SELECT jsonb_array_elements_text(\(channels)::jsonb)), '{}') ELSE channels END,
                        headers = coalesce(\(headers)::jsonb, headers),
                        request_timeout_ms = CASE WHEN \(change.requestTimeout != nil) THEN \(timeout)::integer ELSE request_timeout_ms END,
                        max_attempts = CASE WHEN \(change.maxAttempts != nil) THEN \(maxAttempts)::integer ELSE max_attempts END,
                        backoff_base_ms = CASE WHEN \(change.backoffBase != nil) THEN \(base)::integer ELSE backoff_base_ms END,
                        backoff_cap_ms = CASE WHEN \(change.backoffCap != nil) THEN \(cap)::integer ELSE backoff_cap_ms END,
                        max_in_flight = CASE WHEN \(flow.maxInFlight != nil) THEN \(maxInFlight)::integer ELSE max_in_flight END,
                        rate_limit_per_minute = CASE WHEN \(flow.rateLimit != nil) THEN \(rate)::integer ELSE rate_limit_per_minute END,
                        ordered = coalesce(\(flow.ordered)::boolean, ordered),
                        updated_at = now()
                    WHERE id = \(endpoint.id)
                    """)
            }
        }
        return try await find(String(endpoint.id), on: connection)
    }
}
