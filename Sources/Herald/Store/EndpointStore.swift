public import Foundation
public import PGDriver

/// Endpoints for `herald endpoints`.
public struct EndpointStore: Sendable {
    public let schema: SchemaName
    /// Seal secrets written and open secrets read; nil stores them in clear.
    public let keys: EncryptionKeys?

    public init(schema: SchemaName, keys: EncryptionKeys? = nil) {
        self.schema = schema
        self.keys = keys
    }

    /// A secret as stored: sealed when there are keys.
    private func stored(_ secret: WebhookSecret) throws -> String {
        try keys?.seal(secret.encoded, for: .endpointSecret) ?? secret.encoded
    }

    /// An endpoint as an operator sees it; the secret only when asked for.
    public struct Endpoint: Sendable, Hashable, Codable {
        public var id: Int64
        public var url: String
        public var enabled: Bool
        public var disabledReason: String?
        public var maxAttempts: Int?
        public var breakerKey: String
        public var pending: Int
        public var previousSecretExpiresAt: Date?
        public var createdAt: Date
        public var secret: String?
        /// Flow control (docs/flow_control.md): nil means the worker's default.
        public var maxInFlight: Int?
        public var rateLimitPerMinute: Int?
        public var ordered: Bool
    }

    /// Registers an endpoint with a secret; refuses a URL that already has one.
    public func add(url: String, secret: WebhookSecret, maxAttempts: Int?, breakerKey: String?, on connection: PGConnection) async throws -> Int64 {
        // Same URL checks as enqueue: validate_webhook raises 22023 with the reason.
        do {
            try await connection.query(
                "SELECT \(unescaped: schema.qualified("validate_webhook"))(\(url), ''::bytea, '{}'::jsonb, 'application/json', NULL)")
            if let maxAttempts, !(1...50).contains(maxAttempts) { throw HeraldError.invalid("max attempts must be between 1 and 50, got \(maxAttempts)") }
            let row = try await connection.query(
                """
                INSERT INTO \(unescaped: schema.qualified("endpoints")) (url, secret, max_attempts, breaker_key)
                VALUES (\(unescaped: schema.qualified("webhook_url_normalized"))(\(url)), \(try stored(secret)), \(maxAttempts), \(breakerKey))
                ON CONFLICT (url) DO NOTHING RETURNING id
                """)
            guard let id = try row.first?.decode("id", as: Int64.self) else {
                throw HeraldError(.conflict, "an endpoint for \(url) already exists; `herald endpoints rotate-secret` changes its secret")
            }
            return id
        } catch let error as PGError {
            throw DeliveryStore.heraldError(error)
        }
    }

    private var selectSQL: String {
        """
        SELECT e.id, e.url, e.enabled, e.disabled_reason, e.max_attempts, coalesce(e.breaker_key, 'endpoint:' || e.id) AS breaker_key,
               (SELECT count(*) FROM \(schema.qualified("deliveries")) d WHERE d.endpoint_id = e.id AND d.state = 'pending')::int AS pending,
               e.previous_secret_expires_at, e.created_at, e.secret, e.max_in_flight, e.rate_limit_per_minute, e.ordered
        FROM \(schema.qualified("endpoints")) e
        """
    }

    private func decode(_ row: PGRow, withSecret: Bool) throws -> Endpoint {
        Endpoint(
            id: try row.decode("id"), url: try row.decode("url"), enabled: try row.decode("enabled"),
            disabledReason: try row.decode("disabled_reason"), maxAttempts: try row.decode("max_attempts"),
            breakerKey: try row.decode("breaker_key"), pending: try row.decode("pending"),
            previousSecretExpiresAt: try row.decode("previous_secret_expires_at"), createdAt: try row.decode("created_at"),
            secret: withSecret ? try EncryptionKeys.open(secret: row.decode("secret"), with: keys) : nil,
            maxInFlight: try row.decode("max_in_flight"), rateLimitPerMinute: try row.decode("rate_limit_per_minute"),
            ordered: try row.decode("ordered"))
    }

    public func list(on connection: PGConnection) async throws -> [Endpoint] {
        try await connection.query(PGQuery(sql: selectSQL + " ORDER BY e.id")).rows.map { try decode($0, withSecret: false) }
    }

    /// One endpoint by id or URL.
    public func find(_ idOrURL: String, withSecret: Bool = false, on connection: PGConnection) async throws -> Endpoint {
        let result: PGResult
        if let id = Int64(idOrURL) {
            result = try await connection.query(PGQuery(sql: selectSQL + " WHERE e.id = $1", binds: [id.pgBind]))
        } else {
            result = try await connection.query(PGQuery(sql: selectSQL + " WHERE e.url = $1", binds: [idOrURL.pgBind]))
        }
        guard let row = result.first else {
            throw HeraldError(.notFound, "no endpoint \(idOrURL.debugDescription); `herald endpoints list` shows them")
        }
        return try decode(row, withSecret: withSecret)
    }

    /// Disables (with a reason) or enables an endpoint.
    public func setEnabled(_ idOrURL: String, enabled: Bool, reason: String?, on connection: PGConnection) async throws {
        let endpoint = try await find(idOrURL, on: connection)
        try await connection.query(
            """
            UPDATE \(unescaped: schema.qualified("endpoints"))
            SET enabled = \(enabled), disabled_reason = \(enabled ? nil : reason), updated_at = now() WHERE id = \(endpoint.id)
            """)
    }

    /// The shortest and longest grace period of a secret rotation.
    ///
    /// Why bounded: with no grace every receiver still checking the old secret rejects the next webhook
    /// (a rotation is a switch-over, not a revocation: to revoke, disable the endpoint); a grace of years
    /// keeps a secret you meant to retire signing long after anyone remembers it.
    public static let graceRange: ClosedRange<Duration> = .seconds(60) ... .seconds(30 * 86_400)

    /// `grace` if within ``graceRange``; else ``HeraldError/Code/invalidInput`` saying the range.
    public static func checkedGrace(_ grace: Duration) throws -> Duration {
        guard graceRange.contains(grace) else {
            throw HeraldError.invalid("invalid --grace: the old secret must keep signing for 1m to 30d (e.g. 24h)")
        }
        return grace
    }

    /// Replaces the secret; the old one keeps signing alongside the new one until `grace` has passed.
    /// Returns until when the old secret signs.
    /// - Throws: ``HeraldError/Code/invalidInput`` when `grace` is outside ``graceRange``.
    @discardableResult
    public func rotateSecret(_ idOrURL: String, to secret: WebhookSecret, grace: Duration, on connection: PGConnection) async throws -> Date {
        _ = try Self.checkedGrace(grace)
        let endpoint = try await find(idOrURL, on: connection)
        let graceSeconds = grace.seconds
        let row = try await connection.query(
            """
            UPDATE \(unescaped: schema.qualified("endpoints"))
            SET previous_secret = secret, previous_secret_expires_at = now() + make_interval(secs => \(graceSeconds)),
                secret = \(try stored(secret)), updated_at = now()
            WHERE id = \(endpoint.id)
            RETURNING previous_secret_expires_at
            """
        ).first
        guard let row else { throw HeraldError(.notFound, "endpoint \(idOrURL.debugDescription) vanished during the rotation") }
        return try row.decode("previous_secret_expires_at")
    }
}
