public import Foundation
public import PGDriver

/// Applications (migrations/0012): one per customer of the producer, owning endpoints and messages;
/// `herald applications`.
public struct ApplicationStore: Sendable {
    public let schema: SchemaName

    public init(schema: SchemaName) { self.schema = schema }

    /// An application as an operator sees it.
    public struct Application: Sendable, Hashable, Codable {
        public var id: String
        public var name: String
        /// Finished deliveries (with their attempts and messages) go after this many days, whatever
        /// `herald prune --older-than` says; nil: the prune's --older-than.
        public var retentionDays: Int?
        public var endpoints: Int
        public var enabledEndpoints: Int
        public var messages: Int
        public var createdAt: Date
        public var updatedAt: Date
    }

    /// The longest retention: the table's CHECK (10 years).
    public static let retentionDaysRange = 1...3650

    /// - Throws: ``HeraldError/Code/invalidInput`` unless `days` is within ``retentionDaysRange``.
    public static func checkedRetention(_ days: Int) throws -> Int {
        guard retentionDaysRange.contains(days) else {
            throw HeraldError.invalid("the retention must be 1 to 3650 days, got \(days)")
        }
        return days
    }

    /// A retention as typed (`30d`, `720h`): whole days only, since the table stores days.
    public static func retentionDays(parsing text: String) throws -> Int {
        let duration = try DurationText.parse(text, name: "--retention")
        let seconds = duration.seconds
        guard seconds.truncatingRemainder(dividingBy: 86_400) == 0 else {
            throw HeraldError.invalid("--retention must be whole days (e.g. 30d), got \(text.debugDescription)")
        }
        return try checkedRetention(Int(seconds / 86_400))
    }

    /// Why `id` cannot name an application of the producer's, or nil: the SQL `application_id_problem`
    /// (one source of truth with `publish`), and ids starting with `_` are Herald's own.
    func problem(with id: String, on connection: PGConnection) async throws -> String? {
        let problem: String? = try await connection.query(
            "SELECT \(unescaped: schema.qualified("application_id_problem"))(\(id)) AS problem").first?.decode("problem")
        if let problem { return problem }
        return id.hasPrefix("_") && id != "_operations" ? "application ids starting with _ are Herald's own" : nil
    }

    /// Creates an application; refuses an id in use.
    /// - Throws: ``HeraldError/Code/invalidInput`` for an invalid id, name or retention;
    ///   ``HeraldError/Code/conflict`` when the id exists.
    public func add(id: String, name: String?, retentionDays: Int?, on connection: PGConnection) async throws -> Application {
        try await DatabaseErrors.mapping {
            if let problem = try await problem(with: id, on: connection) { throw HeraldError.invalid(problem) }
            if id.hasPrefix("_") { throw HeraldError.invalid("application ids starting with _ are Herald's own; choose another id") }
            let name = name ?? id
            guard (1...256).contains(name.count) else { throw HeraldError.invalid("--name must be 1 to 256 characters") }
            if let retentionDays { _ = try Self.checkedRetention(retentionDays) }
            let inserted = try await connection.query(
                """
                INSERT INTO \(unescaped: schema.qualified("applications")) (id, name, retention_days)
                VALUES (\(id), \(name), \(retentionDays)::integer) ON CONFLICT (id) DO NOTHING RETURNING id
                """
            ).first
            guard inserted != nil else {
                throw HeraldError(.conflict, "application \(id.debugDescription) already exists; `herald applications set` changes it")
            }
            return try await find(id, on: connection)
        }
    }

    var selectSQL: String {
        """
        SELECT a.id, a.name, a.retention_days, a.created_at, a.updated_at,
               (SELECT count(*) FROM \(schema.qualified("endpoints")) e WHERE e.application_id = a.id AND e.deleted_at IS NULL)::int AS endpoints,
               (SELECT count(*) FROM \(schema.qualified("endpoints")) e WHERE e.application_id = a.id AND e.enabled)::int AS enabled_endpoints,
               (SELECT count(*) FROM \(schema.qualified("messages")) m WHERE m.application_id = a.id)::int AS messages
        FROM \(schema.qualified("applications")) a
        """
    }

    func decode(_ row: PGRow) throws -> Application {
        Application(
            id: try row.decode("id"), name: try row.decode("name"), retentionDays: try row.decode("retention_days"),
            endpoints: try row.decode("endpoints"), enabledEndpoints: try row.decode("enabled_endpoints"),
            messages: try row.decode("messages"), createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }

    /// Every application, by id.
    public func list(on connection: PGConnection) async throws -> [Application] {
        try await DatabaseErrors.mapping { try await connection.query(PGQuery(sql: selectSQL + " ORDER BY a.id")).rows.map(decode) }
    }

    /// One application.
    /// - Throws: ``HeraldError/Code/notFound`` for an unknown id.
    public func find(_ id: String, on connection: PGConnection) async throws -> Application {
        try await DatabaseErrors.mapping {
            guard let row = try await connection.query(PGQuery(sql: selectSQL + " WHERE a.id = $1", binds: [id.pgBind])).first else {
                throw HeraldError(.notFound, "no application \(id.debugDescription); `herald applications list` shows them")
            }
            return try decode(row)
        }
    }

    /// Changes an application's name and retention: nil leaves a setting as it is, `.some(nil)` clears
    /// the retention back to the prune's --older-than.
    public func set(_ id: String, name: String?, retentionDays: Int??, on connection: PGConnection) async throws -> Application {
        try await DatabaseErrors.mapping {
            if let name, !(1...256).contains(name.count) { throw HeraldError.invalid("--name must be 1 to 256 characters") }
            if case .some(.some(let days)) = retentionDays { _ = try Self.checkedRetention(days) }
            let days: Int? = retentionDays.flatMap { $0 }
            let updated = try await connection.query(
                """
                UPDATE \(unescaped: schema.qualified("applications"))
                SET name = coalesce(\(name)::text, name),
                    retention_days = CASE WHEN \(retentionDays != nil) THEN \(days)::integer ELSE retention_days END,
                    updated_at = now()
                WHERE id = \(id) RETURNING id
                """
            ).first
            guard updated != nil else {
                throw HeraldError(.notFound, "no application \(id.debugDescription); `herald applications list` shows them")
            }
            return try await find(id, on: connection)
        }
    }

    /// Makes sure application `id` exists, creating it (named after its id) as `publish` does; returns
    /// whether it was created.
    func ensure(_ id: String, on connection: PGConnection) async throws -> Bool {
        if let problem = try await problem(with: id, on: connection) { throw HeraldError.invalid(problem) }
        return try await connection.query(
            """
            INSERT INTO \(unescaped: schema.qualified("applications")) (id, name) VALUES (\(id), \(id))
            ON CONFLICT (id) DO NOTHING RETURNING id
            """
        ).first != nil
    }
}
