import ArgumentParser
import Foundation
import Herald

/// `herald status`: the queue at a glance.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Deliveries per state, lag, throughput over the last 5 minutes, open breakers.",
        discussion: """
            Lag is the age of the oldest delivery that is due and not yet sent: near zero when workers keep up.
            --app counts only that application's deliveries and attempts (breakers and workers are fleet-wide).

            Examples:
              herald status
              herald status --app cust_42
              herald status --json

            Exit codes: 0 success; 1 database error; 64 invalid arguments.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .customLong("app"), help: "Only this application's deliveries, lag and rates.")
    var application: String?

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        try await CommandRunner.withDatabase(connection) { conn, schema, _ in
            let status = try await StatusStore(schema: schema).status(application: application, on: conn)
            if json {
                print(try JSONOutput.encode(status))
                return
            }
            // Past 100,000 rows finished states are estimates from the table's statistics (pending is exact).
            let states = DeliveryState.allCases.map { state in
                let approx = status.statesEstimated && state != .pending ? "~" : ""
                return "\(state.rawValue) \(approx)\(status.states[state.rawValue] ?? 0)"
            }.joined(separator: "  ")
            print("deliveries  \(states)" + (status.statesEstimated ? "  (~ estimated from table statistics)" : ""))
            print("due now     \(status.due)  (lag \(String(format: "%.1f", status.lagSeconds))s)")
            print("last 5 min  \(String(format: "%.1f", status.deliveredPerMinute)) delivered/min, \(String(format: "%.1f", status.attemptsPerMinute)) attempts/min")
            print("breakers    \(status.openBreakers.isEmpty ? "none open" : "open: " + status.openBreakers.joined(separator: ", "))")
            print("workers     \(status.liveWorkers) live  (`herald workers` lists them)")
            print("secrets     " + (try await SecretsStatus.line(schema: schema, on: conn)))
        }
    }
}
