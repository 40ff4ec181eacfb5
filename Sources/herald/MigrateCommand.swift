import ArgumentParser
import Foundation
import Herald

/// `herald migrate`: creates or upgrades Herald's schema.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade Herald's tables from the migrations built into this binary.",
        discussion: """
            Each migration runs in its own transaction and is recorded with its checksum in
            <schema>.schema_migrations. Running it again is a no-op. Several processes may run it at once
            (they take turns on an advisory lock). A migration file changed after it was applied is an error.

            Examples:
              herald migrate --database-url postgres://herald@db/herald
              herald migrate --status
              herald migrate --status --json
              PGHOST=db PGUSER=herald herald migrate --schema webhooks

            Exit codes: 0 up to date; 1 database or migration error; 64 invalid arguments.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "List applied and pending migrations; change nothing.")
    var status = false

    @Flag(help: "With --status: print JSON.")
    var json = false

    func validate() throws {
        if json && !status { throw ValidationError("--json goes with --status") }
    }

    /// One migration in `--status` output.
    struct MigrationRow: Encodable {
        var version: Int
        var name: String
        /// applied, pending, changed (file edited since it was applied) or unknown (not in this binary).
        var state: String
        var appliedAt: Date?

        init(_ status: Migrator.Status) {
            version = status.version
            name = status.name
            switch status.state {
            case .applied(let at): (state, appliedAt) = ("applied", at)
            case .pending: (state, appliedAt) = ("pending", nil)
            case .changed(let at): (state, appliedAt) = ("changed", at)
            case .unknown(let at): (state, appliedAt) = ("unknown", at)
            }
        }
    }

    struct MigrationStatus: Encodable {
        var schema: String
        var migrations: [MigrationRow]
    }

    func run() async throws {
        try await CommandRunner.withDatabase(connection) { conn, schema, logger in
            let migrator = Migrator(connection: conn, schema: schema, logger: logger)
            if status {
                let statuses = try await migrator.status()
                let rows = statuses.map(MigrationRow.init)
                let problems = rows.filter { $0.state == "changed" || $0.state == "unknown" }.count
                let pending = rows.filter { $0.state == "pending" }.count
                if json {
                    print(try JSONOutput.encode(MigrationStatus(schema: schema.rawValue, migrations: rows)))
                } else {
                    print(TextTable.render(
                        header: ["STATE", "MIGRATION", "APPLIED", "NOTE"],
                        rows: rows.map { r in
                            [r.state, r.name, r.appliedAt.map(TextTable.time) ?? "-",
                             r.state == "changed" ? "file differs since it was applied" : r.state == "unknown" ? "not in this binary" : ""]
                        }))
                    print("schema \(schema): \(rows.count - pending - problems) applied, \(pending) pending\(problems > 0 ? ", \(problems) in conflict" : "")")
                }
                if problems > 0 { throw ExitCode.failure }
                return
            }
            let report = try await migrator.migrate()
            if report.applied.isEmpty {
                print("schema \(schema) is up to date (\(TextTable.count(report.alreadyApplied, "migration", "migrations")) applied); nothing to do")
            } else {
                for m in report.applied { print("applied \(m.name)") }
                print("schema \(schema): applied \(TextTable.count(report.applied.count, "migration", "migrations"))")
            }
        }
    }
}
