import ArgumentParser
import Foundation
import Herald

/// `herald`: the webhook delivery supervisor's command line.
@main
struct HeraldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "Delivers webhooks from a PostgreSQL queue: at least once, with retries, backoff and circuit breakers.",
        discussion: """
            Connection: --database-url, else DATABASE_URL, else libpq's PG* variables and ~/.pgpass (as psql).
            --database-url, --schema, --log-level and --log-format may come before or after the command.

            Examples:
              herald migrate
              herald --schema webhooks status
              herald deliveries list --state dead

            Exit codes: 0 success; 1 runtime failure (database unreachable, migration error, …);
            64 invalid arguments (an unknown command, or no command, included).
            """,
        version: HeraldVersion.current,
        subcommands: [
            MigrateCommand.self, EnqueueCommand.self, PublishCommand.self, WorkerCommand.self, WorkersCommand.self, StatusCommand.self,
            DeliveriesCommand.self, MessagesCommand.self, EndpointsCommand.self, ApplicationsCommand.self, BreakersCommand.self,
            PruneCommand.self, SecretsCommand.self, ServeCommand.self, TokensCommand.self,
        ]
    )

    /// Bare `herald`: the help, and exit 64, since nothing was asked for.
    func run() async throws {
        print(Self.helpMessage())
        throw ExitCode.validationFailure
    }

    static func main() async {
        let arguments = CommandLineShape.movingGlobalOptions(Array(CommandLine.arguments.dropFirst()))
        if let first = arguments.first, !first.hasPrefix("-"), first != "help" {
            let names = configuration.subcommands.map { $0._commandName }
            if let suggestion = CommandLineShape.suggestion(for: first, among: names) {
                FileHandle.standardError.write(Data("herald: \(suggestion)\n".utf8))
                Foundation.exit(ExitCode.validationFailure.rawValue)
            }
        }
        await main(arguments)
    }
}
