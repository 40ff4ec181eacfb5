public import Foundation
public import PGDriver

/// Endpoints for `herald endpoints`.
public struct EndpointStore: Sendable {
    public let schema: SchemaName
    /// Seal secrets and header values written, open those read; nil stores them in clear.
    public let keys: EncryptionKeys?

    public init(schema: SchemaName, keys: EncryptionKeys? = nil) {
        self.schema = schema
        self.keys = keys
    }

    /// A secret as stored: sealed when there are keys.
    func stored(_ secret: WebhookSecret) throws -> String {
        try keys?.seal(secret.encoded, for: .endpointSecret) ?? secret.encoded
    }

    /// An endpoint's extra headers as stored: sealed as one value when there are keys, since they may
    /// hold the receiver's credentials (`Authorization`).
    func stored(headers: [String: String]) throws -> PGJSON {
        try PGJSON(encoding: try keys?.seal(headers: headers) ?? headers)
    }

    /// An endpoint as an operator sees it; the secret only when asked for, header values never.
    public struct Endpoint: Sendable, Hashable, Codable {
        public var id: Int64
        /// The application the endpoint belongs to ('default' for endpoints made by `enqueue(url, …)`).
        public var applicationID: String
        public var url: String
        public var description: String
        public var enabled: Bool
        public var disabledReason: String?
        public var disabledAt: Date?
        /// Since when every attempt failed (nil after a success); a worker disables it after long enough.
        public var failingSince: Date?
        /// Subscriptions: exact types and prefix wildcards (`invoice.*`); nil: every type.
        public var eventTypes: [String]?
        /// nil: every message; otherwise only messages on one of these channels.
        public var channels: [String]?
        /// The names of the endpoint's extra request headers, sorted; their values are never shown. nil when
        /// they are sealed and this process has no key to open them.
        public var headerNames: [String]?
        /// The headers are stored sealed (HERALD_ENCRYPTION_KEY).
        public var headersSealed: Bool
        /// A request timeout shorter than the worker's; nil: the worker's --request-timeout.
        public var requestTimeoutMs: Int?
        public var maxAttempts: Int?
        public var backoffBaseMs: Int?
        public var backoffCapMs: Int?
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

    /// What `herald endpoints add` registers.
    public struct NewEndpoint: Sendable {
        /// The application; created (named after its id) when it does not exist, as `publish` does.
        public var application: String = "default"
        public var url: String
        public var secret: WebhookSecret
        public var maxAttempts: Int?
        public var breakerKey: String?
        public var description: String = ""
        /// nil: every type.
        public var eventTypes: [String]?
        /// nil: every message.
        public var channels: [String]?
        public var headers: [String: String] = [:]
        public var requestTimeout: Duration?

        public init(application: String = "default", url: String, secret: WebhookSecret) {
            self.application = application
            self.url = url
            self.secret = secret
        }
    }

    /// Registers an endpoint in the application 'default' with a secret; refuses a URL that already has one there.
    public func add(url: String, secret: WebhookSecret, maxAttempts: Int?, breakerKey: String?, on connection: PGConnection) async throws -> Int64 {
        var endpoint = NewEndpoint(url: url, secret: secret)
        endpoint.maxAttempts = maxAttempts
        endpoint.breakerKey = breakerKey
        return try await add(endpoint, on: connection).id
    }

    /// Registers `new` in its application, in one transaction (the application is created if new); the
    /// same URL in another application is another endpoint with its own secret.
    /// - Throws: ``HeraldError/Code/invalidInput`` for a value Herald refuses (URL, types, channels, headers,
    ///   timeout); ``HeraldError/Code/conflict`` when the URL is registered in that application already.
    public func add(_ new: NewEndpoint, on connection: PGConnection) async throws -> (id: Int64, createdApplication: Bool) {
        if let maxAttempts = new.maxAttempts, !(1...50).contains(maxAttempts) {
            throw HeraldError.invalid("max attempts must be between 1 and 50, got \(maxAttempts)")
        }
        let timeout = try new.requestTimeout.map(Self.checkedTimeoutMilliseconds)
        return try await DatabaseErrors.mapping {
            try await connection.withTransaction { tx in
                // Same URL and header checks as enqueue: validate_webhook raises 22023 with the reason.
                try await tx.query(
                    "SELECT \(unescaped: schema.qualified("validate_webhook"))(\(new.url), ''::bytea, \(try PGJSON(encoding: new.headers))::jsonb, 'application/json', NULL)")
                try await checkSubscriptions(eventTypes: new.eventTypes, channels: new.channels, on: tx)
                let created = try await ApplicationStore(schema: schema).ensure(new.application, on: tx)
                let row = try await tx.query(
                    """
                    INSERT INTO \(unescaped: schema.qualified("endpoints"))
                        (application_id, url, secret, max_attempts, breaker_key, description, event_types, channels, headers, request_timeout_ms)
                    VALUES (\(new.application), \(unescaped: schema.qualified("webhook_url_normalized"))(\(new.url)), \(try stored(new.secret)),
                            \(new.maxAttempts)::integer, \(new.breakerKey), \(new.description),
                            nullif(ARRAY(SELECT jsonb_array_elements_text(\(try new.eventTypes.map { try PGJSON(encoding: $0) })::jsonb)), '{}'),
                            nullif(ARRAY(SELECT jsonb_array_elements_text(\(try new.channels.map { try PGJSON(encoding: $0) })::jsonb)), '{}'),
                            \(try stored(headers: new.headers))::jsonb, \(timeout)::integer)
                    ON CONFLICT (application_id, url) WHERE deleted_at IS NULL DO NOTHING RETURNING id
                    """)
                guard let id = try row.first?.decode("id", as: Int64.self) else {
                    throw HeraldError(
                        .conflict,
                        "an endpoint for \(new.url) already exists in application \(new.application.debugDescription); `herald endpoints rotate-secret` changes its secret, `herald endpoints set` its settings")
                }
                return (id, created)
            }
        }
    }

    /// The shortest and longest per-endpoint request timeout (the table's CHECK): never longer than 5
    /// minutes, since a worker sizes its lease by its own --request-timeout.
    public static let timeoutRange: ClosedRange<Duration> = .milliseconds(100) ... .seconds(300)

    /// `timeout` in milliseconds if within ``timeoutRange``; else ``HeraldError/Code/invalidInput``.
    public static func checkedTimeoutMilliseconds(_ timeout: Duration) throws -> Int {
        guard timeoutRange.contains(timeout) else {
            throw HeraldError.invalid("the request timeout must be 100ms to 5m (e.g. 5s)")
        }
        return Int((timeout.seconds * 1000).rounded())
    }

    /// Checks event type patterns and channels with the SQL functions `publish` matches them with
    /// (`event_type_pattern_problem`, `channel_problem`): one source of truth for what is valid.
    /// - Throws: ``HeraldError/Code/invalidInput`` with the first problem.
    func checkSubscriptions(eventTypes: [String]?, channels: [String]?, on connection: PGConnection) async throws {
        if let eventTypes, eventTypes.isEmpty { throw HeraldError.invalid("give at least one event type, or all") }
        if let channels, channels.isEmpty { throw HeraldError.invalid("give at least one channel, or all") }
        let problem: String? = try await connection.query(
            """
            SELECT coalesce(
                (SELECT \(unescaped: schema.qualified("event_type_pattern_problem"))(t) FROM jsonb_array_elements_text(\(try PGJSON(encoding: eventTypes ?? []))::jsonb) t
                 WHERE \(unescaped: schema.qualified("event_type_pattern_problem"))(t) IS NOT NULL LIMIT 1),
                (SELECT \(unescaped: schema.qualified("channel_problem"))(c) FROM jsonb_array_elements_text(\(try PGJSON(encoding: channels ?? []))::jsonb) c
                 WHERE \(unescaped: schema.qualified("channel_problem"))(c) IS NOT NULL LIMIT 1)) AS problem
            """
        ).first?.decode("problem")
        if let problem { throw HeraldError.invalid(problem) }
    }

    var selectSQL: String {
        """
        SELECT e.id, e.application_id, e.url, e.description, e.enabled, e.disabled_reason, e.disabled_at, e.failing_since,
               to_jsonb(e.event_types)::text AS event_types, to_jsonb(e.channels)::text AS channels, e.headers::text AS headers,
               e.request_timeout_ms, e.max_attempts, e.backoff_base_ms, e.backoff_cap_ms,
               coalesce(e.breaker_key, 'endpoint:' || e.id) AS breaker_key,
               (SELECT count(*) FROM \(schema.qualified("deliveries")) d WHERE d.endpoint_id = e.id AND d.state = 'pending')::int AS pending,
               e.previous_secret_expires_at, e.created_at, e.secret, e.max_in_flight, e.rate_limit_per_minute, e.ordered
        FROM \(schema.qualified("endpoints")) e
        """
    }

    func decode(_ row: PGRow, withSecret: Bool) throws -> Endpoint {
        let storedHeaders = try row.decode("headers", as: PGJSON.self).decode([String: String].self)
        let sealed = storedHeaders[EncryptionKeys.sealedHeadersKey] != nil && storedHeaders.count == 1
        let names = (try? EncryptionKeys.open(headers: storedHeaders, with: keys)).map { $0.keys.sorted() }
        return Endpoint(
            id: try row.decode("id"), applicationID: try row.decode("application_id"), url: try row.decode("url"),
            description: try row.decode("description"), enabled: try row.decode("enabled"),
            disabledReason: try row.decode("disabled_reason"), disabledAt: try row.decode("disabled_at"),
            failingSince: try row.decode("failing_since"),
            eventTypes: try row.decode("event_types", as: PGJSON?.self).map { try $0.decode([String].self) },
            channels: try row.decode("channels", as: PGJSON?.self).map { try $0.decode([String].self) },
            headerNames: names, headersSealed: sealed,
            requestTimeoutMs: try row.decode("request_timeout_ms"), maxAttempts: try row.decode("max_attempts"),
            backoffBaseMs: try row.decode("backoff_base_ms"), backoffCapMs: try row.decode("backoff_cap_ms"),
            breakerKey: try row.decode("breaker_key"), pending: try row.decode("pending"),
            previousSecretExpiresAt: try row.decode("previous_secret_expires_at"), createdAt: try row.decode("created_at"),
            secret: withSecret ? try EncryptionKeys.open(secret: row.decode("secret"), with: keys) : nil,
            maxInFlight: try row.decode("max_in_flight"), rateLimitPerMinute: try row.decode("rate_limit_per_minute"),
            ordered: try row.decode("ordered"))
    }

    /// Every endpoint, or those of one application, by id; never deleted ones.
    public func list(application: String? = nil, on connection: PGConnection) async throws -> [Endpoint] {
        try await DatabaseErrors.mapping {
            try await connection.query(
                PGQuery(sql: selectSQL + " WHERE e.deleted_at IS NULL AND ($1::text IS NULL OR e.application_id = $1::text) ORDER BY e.id",
                        binds: [application.map(\.pgBind) ?? .null])
            ).rows.map { try decode($0, withSecret: false) }
        }
    }

    /// One endpoint by id or URL; `application` narrows a URL registered in several applications (and
    /// must match an id's). A deleted endpoint is not found: only the audit rows remember it.
    /// - Throws: ``HeraldError/Code/notFound``; ``HeraldError/Code/invalidInput`` for a URL registered in
    ///   several applications when `application` is nil (the operator must say which).
    public func find(_ idOrURL: String, application: String? = nil, withSecret: Bool = false, on connection: PGConnection) async throws -> Endpoint {
        let appBind = application.map(\.pgBind) ?? .null
        let rows = try await DatabaseErrors.mapping { () -> [PGRow] in
            if let id = Int64(idOrURL) {
                return try await connection.query(
                    PGQuery(sql: selectSQL + " WHERE e.id = $1 AND e.deleted_at IS NULL AND ($2::text IS NULL OR e.application_id = $2::text)", binds: [id.pgBind, appBind])).rows
            }
            return try await connection.query(
                PGQuery(
                    sql: selectSQL + """
                         WHERE (e.url = $1 OR e.url = \(schema.qualified("webhook_url_normalized"))($1)) AND e.deleted_at IS NULL
                          AND ($2::text IS NULL OR e.application_id = $2::text) ORDER BY e.id
                        """,
                    binds: [idOrURL.pgBind, appBind])).rows
        }
        guard let row = rows.first else {
            let scope = application.map { " in application \($0.debugDescription)" } ?? ""
            throw HeraldError(.notFound, "no endpoint \(idOrURL.debugDescription)\(scope); `herald endpoints list` shows them")
        }
        if rows.count > 1 {
            let apps = try rows.map { try $0.decode("application_id", as: String.self) }
            throw HeraldError.invalid(
                "\(idOrURL) is an endpoint of several applications (\(apps.joined(separator: ", "))): give --app, or the endpoint's id")
        }
        return try decode(row, withSecret: withSecret)
    }

    /// Disables (with a reason) or enables an endpoint through the SQL `endpoint_set_enabled`, which records
    /// an `endpoint_events` row (actor: the session's role) and publishes the operational webhook. Returns
    /// the endpoint and whether it changed (false: it already was so).
    @discardableResult
    public func setEnabled(
        _ idOrURL: String, application: String? = nil, enabled: Bool, reason: String?, on connection: PGConnection
    ) async throws -> (endpoint: Endpoint, changed: Bool) {
        let endpoint = try await find(idOrURL, application: application, on: connection)
        let changed = try await DatabaseErrors.mapping {
            try await connection.query(
                "SELECT \(unescaped: schema.qualified("endpoint_set_enabled"))(\(endpoint.id), \(enabled), \(reason)::text, NULL) AS changed"
            ).first?.decode("changed", as: Bool.self) ?? false
        }
        return (try await find(String(endpoint.id), on: connection), changed)
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
    public func rotateSecret(
        _ idOrURL: String, application: String? = nil, to secret: WebhookSecret, grace: Duration, on connection: PGConnection
    ) async throws -> Date {
        _ = try Self.checkedGrace(grace)
        let endpoint = try await find(idOrURL, application: application, on: connection)
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
