internal import PGDriver
public import Foundation

/// The statements `herald migrate` runs: the advisory lock, the bookkeeping table, and each file.
///
/// Like every store in Herald, it holds SQL text and nothing else; the schema name it splices in is a
/// validated ``SchemaName``.
struct MigrationStore {
    let connection: PGConnection
    let schema: SchemaName

    /// The advisory-lock key for migrating this schema: concurrent `herald migrate` processes (several
    /// containers starting at once) take turns instead of racing on DDL.
    private var lockName: String { "herald.migrate:\(schema.rawValue)" }

    /// Takes the lock without waiting; false when another process holds it.
    func tryLock() async throws -> Bool {
        let result = try await connection.query("SELECT pg_try_advisory_lock(hashtextextended(\(lockName), 0)) AS locked")
        return try result.first?.decode("locked") ?? false
    }

    /// Waits for the lock.
    func lock() async throws {
        try await connection.query("SELECT pg_advisory_lock(hashtextextended(\(lockName), 0))")
    }

    func unlock() async throws {
        try await connection.query("SELECT pg_advisory_unlock(hashtextextended(\(lockName), 0))")
    }

    /// The database's character set as PostgreSQL names it (`UTF8`, `SQL_ASCII`, `LATIN1` …).
    func databaseEncoding() async throws -> String {
        try await connection.query("SELECT current_setting('server_encoding') AS encoding").first?.decode("encoding") ?? ""
    }

    /// Creates the schema itself. The one piece of DDL outside `migrations/`: the migration files are
    /// schema-agnostic and need the schema to exist before `schema_migrations` can be read.
    func createSchemaIfMissing() async throws {
        try await connection.query(PGQuery(sql: "CREATE SCHEMA IF NOT EXISTS \(schema.quoted)"))
    }

    /// The applied migrations, or none when the bookkeeping table does not exist yet.
    func appliedMigrations() async throws -> [AppliedMigration] {
        let table = schema.qualified("schema_migrations")
        let exists = try await connection.query("SELECT to_regclass(\(table)) IS NOT NULL AS present")
        guard try exists.first?.decode("present", as: Bool.self) == true else { return [] }
        let rows = try await connection.query(
            PGQuery(sql: "SELECT version, name, checksum, applied_at FROM \(table) ORDER BY version"))
        return try rows.rows.map { row in
            AppliedMigration(
                version: try row.decode("version"), name: try row.decode("name"), checksum: try row.decode("checksum"),
                appliedAt: try row.decode("applied_at"))
        }
    }

    /// Runs one migration file and records it, in one transaction.
    func apply(_ migration: Migration) async throws {
        try await connection.withTransaction { conn in
            try await conn.query(PGQuery(sql: "SET LOCAL search_path TO \(schema.quoted)"))
            try await conn.execute(script: migration.sql)
            try await conn.query(
                PGQuery(
                    sql: "INSERT INTO \(schema.qualified("schema_migrations")) (version, name, checksum) VALUES ($1, $2, $3)",
                    binds: [migration.version.pgBind, migration.name.pgBind, migration.checksum.pgBind]))
        }
    }
}

/// A row of `schema_migrations`.
public struct AppliedMigration: Sendable, Hashable {
    public var version: Int
    public var name: String
    public var checksum: String
    public var appliedAt: Date
}
