import ArgumentParser
import Herald

/// `herald`: the webhook delivery supervisor's command line.
@main
struct HeraldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "Delivers webhooks from a PostgreSQL queue: at least once, with retries, backoff and circuit breakers.",
        discussion: """
            Connection: --database-url, else DATABASE_URL, else libpq's PG* variables and ~/.pgpass (as psql).

            Exit codes: 0 success; 1 runtime failure (database unreachable, migration error, …);
            64 invalid arguments.
            """,
        version: HeraldVersion.current,
        subcommands: [
            MigrateCommand.self, EnqueueCommand.self, WorkerCommand.self, StatusCommand.self, DeliveriesCommand.self,
            EndpointsCommand.self, BreakersCommand.self, PruneCommand.self, SecretsCommand.self,
        ]
    )
}
