public import Foundation
public import PGDriver

/// API tokens (migrations/0015): `herald tokens` and the server's authentication.
public struct TokenStore: Sendable {
    public let schema: SchemaName

    public init(schema: SchemaName) { self.schema = schema }

    /// A token as listed: never its secret, which is not stored.
    public struct Token: Sendable, Hashable, Codable {
        public var id: String
        /// nil: an admin token.
        public var applicationID: String?
        public var name: String
        public var createdAt: Date
        public var expiresAt: Date?
        public var revokedAt: Date?
        public var lastUsedAt: Date?
    }

    /// Who a valid token speaks for.
    public struct Caller: Sendable, Hashable {
        /// The token's public id.
        public var tokenID: String
        /// nil: an admin, who sees every application.
        public var application: String?

        public init(tokenID: String, application: String?) {
            self.tokenID = tokenID
            self.application = application
        }
    }

    /// Stores a new token's hash. `application` nil makes an admin token; an application must exist.
    /// - Throws: ``HeraldError/Code/notFound`` for an unknown application.
    public func tokenCreate(
        _ token: APIToken, application: String?, name: String, expiresIn: Duration?, on connection: PGConnection
    ) async throws -> Token {
        if let application {
            _ = try await ApplicationStore(schema: schema).find(application, on: connection)
        }
        guard name.count <= 256 else { throw HeraldError.invalid("--name must be at most 256 characters") }
        return try await DatabaseErrors.mapping {
            let row = try await connection.query(
                """
                INSERT INTO \(unescaped: schema.qualified("api_tokens")) (id, token_sha256, application_id, name, expires_at)
                VALUES (\(token.id), \(token.sha256), \(application), \(name),
                        now() + make_interval(secs => \(expiresIn?.seconds)::float8))
                RETURNING \(unescaped: columns)
                """
            ).first
            guard let row else { throw HeraldError(.database, "the token was not stored") }
            return try decode(row)
        }
    }

    private var columns: String { "id, application_id, name, created_at, expires_at, revoked_at, last_used_at" }

    private func decode(_ row: PGRow) throws -> Token {
        Token(
            id: try row.decode("id"), applicationID: try row.decode("application_id"), name: try row.decode("name"),
            createdAt: try row.decode("created_at"), expiresAt: try row.decode("expires_at"), revokedAt: try row.decode("revoked_at"),
            lastUsedAt: try row.decode("last_used_at"))
    }

    /// Every token, oldest first.
    public func tokenList(on connection: PGConnection) async throws -> [Token] {
        try await DatabaseErrors.mapping {
            try await connection.query("SELECT \(unescaped: columns) FROM \(unescaped: schema.qualified("api_tokens")) ORDER BY created_at, id")
                .rows.map(decode)
        }
    }

    /// Revokes a token at once; returns false when it was revoked already.
    /// - Throws: ``HeraldError/Code/notFound`` for an unknown id.
    public func tokenRevoke(id: String, on connection: PGConnection) async throws -> Bool {
        try await DatabaseErrors.mapping {
            let row = try await connection.query(
                """
                UPDATE \(unescaped: schema.qualified("api_tokens")) t SET revoked_at = coalesce(t.revoked_at, now())
                WHERE t.id = \(id) RETURNING (SELECT o.revoked_at IS NULL FROM \(unescaped: schema.qualified("api_tokens")) o WHERE o.id = t.id) AS changed
                """
            ).first
            guard let row else { throw HeraldError(.notFound, "no token \(id.debugDescription); `herald tokens list` shows them") }
            return try row.decode("changed")
        }
    }

    /// Checks a presented token: its hash must match (compared in constant time), and it must be neither
    /// revoked nor expired. Returns who it speaks for, or nil; records the use at most once a minute.
    public func tokenAuthenticate(_ token: APIToken, on connection: PGConnection) async throws -> Caller? {
        try await DatabaseErrors.mapping {
            let row = try await connection.query(
                """
                SELECT token_sha256, application_id,
                       revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AS usable,
                       last_used_at IS NULL OR last_used_at < now() - interval '1 minute' AS stale_use
                FROM \(unescaped: schema.qualified("api_tokens")) WHERE id = \(token.id)
                """
            ).first
            guard let row else { return nil }
            let stored: [UInt8] = try row.decode("token_sha256")
            guard APIToken.constantTimeEqual(stored, token.sha256), try row.decode("usable", as: Bool.self) else { return nil }
            if try row.decode("stale_use", as: Bool.self) {
                try await connection.query(
                    "UPDATE \(unescaped: schema.qualified("api_tokens")) SET last_used_at = now() WHERE id = \(token.id)")
            }
            return Caller(tokenID: token.id, application: try row.decode("application_id"))
        }
    }
}

extension TokenStore {
    /// Whether the database answers and holds this schema's token table: `herald serve`'s readiness.
    public func tokenTableReachable(on connection: PGConnection) async throws -> Bool {
        try await DatabaseErrors.mapping {
            try await connection.query(
                "SELECT to_regclass(\(schema.qualified("api_tokens"))) IS NOT NULL AS ok").first?.decode("ok") ?? false
        }
    }
}
