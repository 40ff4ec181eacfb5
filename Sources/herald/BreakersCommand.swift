import ArgumentParser
import Foundation
import Herald

/// `herald breakers`: the shared circuit breakers.
struct BreakersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "breakers",
        abstract: "List circuit breakers, or reset one.",
        discussion: """
            A breaker opens after consecutive retryable failures of its endpoint (or of every endpoint sharing
            its key); while open, its deliveries wait without spending attempts. After the cool-down one probe
            is sent (half_open); its success closes the breaker.

            Examples:
              herald breakers
              herald breakers --json
              herald breakers reset endpoint:42

            Exit codes: 0 success; 1 database error or unknown breaker; 64 invalid arguments.
            """,
        subcommands: [List.self, Reset.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List breakers, open ones first.",
            discussion: """
                Examples:
                  herald breakers list
                  herald breakers --json

                Exit codes: 0 success; 1 database error; 64 invalid arguments.
                """)

        @OptionGroup var connection: ConnectionOptions

        @Flag(help: "Print JSON.")
        var json = false

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let breakers = try await BreakerStore(schema: schema).list(on: conn)
                if json {
                    print(try JSONOutput.encode(breakers))
                    return
                }
                if breakers.isEmpty {
                    print("no breakers yet (one appears when its endpoint first gets an answer)")
                    return
                }
                let rows = breakers.map { b in
                    [
                        b.key, b.state, String(b.consecutiveFailures), String(b.trips),
                        b.openUntil.map { TextTable.time($0) } ?? "-", String(b.pendingDeliveries), b.lastTransition ?? "-",
                    ]
                }
                print(TextTable.render(header: ["KEY", "STATE", "FAILURES", "TRIPS", "OPEN UNTIL", "PENDING", "LAST TRANSITION"], rows: rows))
            }
        }
    }

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset", abstract: "Close a breaker now and make the deliveries it held back due.",
            discussion: """
                Examples:
                  herald breakers reset endpoint:42

                Exit codes: 0 closed; 1 unknown breaker or database error; 64 invalid arguments.
                """)

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: "The breaker key, e.g. endpoint:42.")
        var key: String

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                guard try await BreakerStore(schema: schema).reset(key: key, on: conn) else {
                    throw HeraldError(.notFound, "no breaker with key \(key.debugDescription); `herald breakers` lists them")
                }
                print("breaker \(key) closed")
            }
        }
    }
}
