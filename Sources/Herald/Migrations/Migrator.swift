public import PGDriver
public import Logging
public import Foundation

/// Brings a schema up to date with a list of migrations.
///
/// Safe to run from several processes at once: they serialise on an advisory lock, and the ones that get
/// the lock after the first find nothing pending. Each file runs in its own transaction, so a failing file
/// leaves the ones before it applied and itself not at all.
public struct Migrator: Sendable {
    /// Where one migration stands in one database.
    public enum State: Sendable, Hashable {
        /// Applied, with the same checksum as the file.
        case applied(Date)
        /// Not applied yet.
        case pending
        /// Applied, but the file changed since: an error, as the database no longer matches the file.
        case changed(Date)
        /// In the database but not among the files: this binary is older than the schema.
        case unknown(Date)
    }

    /// One line of `herald migrate --status`.
    public struct Status: Sendable, Hashable {
        public var version: Int
        public var name: String
        public var state: State
    }

    /// What ``migrate()`` did.
    public struct Report: Sendable {
        /// The migrations this run applied, in order.
        public var applied: [Migration]
        /// How many were already applied before this run.
        public var alreadyApplied: Int
    }

    let connection: PGConnection
    let schema: SchemaName
    let migrations: [Migration]
    let logger: Logger

    /// - Parameters:
    ///   - migrations: the files to apply, defaulting to the ones compiled into this binary.
    public init(
        connection: PGConnection, schema: SchemaName, migrations: [Migration] = Migration.embedded,
        logger: Logger = Logger(label: "herald.migrate")
    ) {
        self.connection = connection
        self.schema = schema
        self.migrations = migrations
        self.logger = logger
    }

    private var store: MigrationStore { MigrationStore(connection: connection, schema: schema) }

    /// Every migration, file or database row, with its state; in version order.
    public func status() async throws -> [Status] {
        let applied = try await store.appliedMigrations()
        return Self.merge(files: migrations, applied: applied)
    }

    /// Applies what is pending.
    /// - Throws: ``HeraldError/Code/migration`` when an applied file changed or the database has
    ///   migrations this binary does not know; nothing is applied then.
    public func migrate() async throws -> Report {
        if try await !store.tryLock() {
            logger.info("another herald migrate is running on this schema; waiting for it", metadata: ["schema": "\(schema)"])
            try await store.lock()
        }
        do {
            let report = try await migrateLocked()
            try await store.unlock()
            return report
        } catch {
            // A broken connection released the lock with the session; a live one must release it.
            try? await store.unlock()
            throw error
        }
    }

    private func migrateLocked() async throws -> Report {
        // Payloads, headers and errors are text that must round-trip byte for byte: SQL_ASCII stores
        // whatever arrives unchecked, other encodings refuse or mangle characters they lack.
        let encoding = try await store.databaseEncoding()
        guard encoding == "UTF8" else {
            throw HeraldError(
                .migration,
                "the database uses encoding \(encoding), but Herald needs UTF8: create it with "
                    + "CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0 (nothing was changed)")
        }
        try await store.createSchemaIfMissing()
        let statuses = Self.merge(files: migrations, applied: try await store.appliedMigrations())
        for status in statuses {
            switch status.state {
            case .changed:
                throw HeraldError(
                    .migration,
                    "migration \(status.name) was changed after it was applied to schema \(schema); "
                        + "restore the original file and put the change in a new migration")
            case .unknown:
                throw HeraldError(
                    .migration,
                    "schema \(schema) has migration \(status.name), which this herald does not know; "
                        + "run a herald at least as new as the one that applied it")
            default: break
            }
        }
        let pendingVersions = Set(statuses.filter { $0.state == .pending }.map(\.version))
        let pending = migrations.filter { pendingVersions.contains($0.version) }
        for migration in pending {
            logger.info("applying migration", metadata: ["migration": "\(migration.name)", "schema": "\(schema)"])
            do {
                try await store.apply(migration)
            } catch let error as PGError {
                throw HeraldError(.migration, "migration \(migration.name) failed and was rolled back: \(error)")
            }
        }
        return Report(applied: pending, alreadyApplied: statuses.count - pending.count)
    }

    static func merge(files: [Migration], applied: [AppliedMigration]) -> [Status] {
        let byVersion = Dictionary(applied.map { ($0.version, $0) }, uniquingKeysWith: { a, _ in a })
        var result = files.map { file -> Status in
            guard let row = byVersion[file.version] else {
                return Status(version: file.version, name: file.name, state: .pending)
            }
            let state: State = row.checksum == file.checksum ? .applied(row.appliedAt) : .changed(row.appliedAt)
            return Status(version: file.version, name: file.name, state: state)
        }
        let known = Set(files.map(\.version))
        for row in applied where !known.contains(row.version) {
            result.append(Status(version: row.version, name: row.name, state: .unknown(row.appliedAt)))
        }
        return result.sorted { $0.version < $1.version }
    }
}
