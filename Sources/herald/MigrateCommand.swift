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
              PGHOST=db PGUSER=herald herald migrate --schema webhooks

            Exit codes: 0 up to date; 1 database or migration error; 64 invalid arguments.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "List applied and pending migrations; change nothing.")
    var status = false

    func run() async throws {
        try await CommandRunner.withDatabase(connection) { conn, schema, logger in
            let migrator = Migrator(connection: conn, schema: schema, logger: logger)
            if status {
                let statuses = try await migrator.status()
                var problems = 0
                for line in statuses {
                    switch line.state {
                    case .applied(let at): print("applied  \(line.name)  \(at)")
                    case .pending: print("pending  \(line.name)")
                    case .changed(let at):
                        problems += 1
                        print("CHANGED  \(line.name)  applied \(at), file differs since")
                    case .unknown(let at):
                        problems += 1
                        print("UNKNOWN  \(line.name)  applied \(at), not in this binary")
                    }
                }
                let pending = statuses.filter { $0.state == .pending }.count
                print("schema \(schema): \(statuses.count - pending - problems) applied, \(pending) pending")
                if problems > 0 { throw ExitCode.failure }
                return
            }
            let report = try await migrator.migrate()
            if report.applied.isEmpty {
                print("schema \(schema) is up to date (\(report.alreadyApplied) migrations applied); nothing to do")
            } else {
                for m in report.applied { print("applied \(m.name)") }
                print("schema \(schema): applied \(report.applied.count) migration(s)")
            }
        }
    }
}
