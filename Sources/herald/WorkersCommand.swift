import ArgumentParser
import Foundation
import Herald

/// `herald workers`: the fleet, from the workers' heartbeats.
struct WorkersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workers",
        abstract: "List worker processes: live, silent (no heartbeat lately) or stopped, with slots and sends in flight.",
        discussion: """
            Every worker records a heartbeat every --heartbeat-interval (default 5s). A worker is live while its
            last heartbeat is at most 3 of its intervals old (15 s at the default), silent after that (killed,
            frozen, or cut off from the database), and stopped once it began a graceful shutdown. Times are the
            database's clock. `herald prune` removes rows of workers silent or stopped for more than a day.

            Examples:
              herald workers
              herald workers --json

            Exit codes: 0 success; 1 database error; 64 invalid arguments.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        try await CommandRunner.withDatabase(connection) { conn, schema, _ in
            let workers = try await WorkerHeartbeatStore(schema: schema).workerList(on: conn)
            if json {
                print(try JSONOutput.encode(workers))
                return
            }
            if workers.isEmpty {
                print("no workers yet (each `herald worker` appears within seconds of starting)")
                return
            }
            let rows = workers.map { w in
                [
                    w.workerID, w.state, w.host, String(w.pid), w.version, String(w.slots), String(w.sendsInFlight),
                    TextTable.time(w.startedAt), w.lastSendAt.map { TextTable.time($0) } ?? "-",
                    String(format: "%.1fs ago", w.silentForSeconds),
                ]
            }
            print(TextTable.render(
                header: ["WORKER", "STATE", "HOST", "PID", "VERSION", "SLOTS", "IN FLIGHT", "STARTED", "LAST SEND", "LAST HEARTBEAT"],
                rows: rows))
            let live = workers.filter { $0.state == "live" }
            print("\(TextTable.count(live.count, "worker", "workers")) live, \(live.reduce(0) { $0 + $1.slots }) slots, "
                + "\(live.reduce(0) { $0 + $1.sendsInFlight }) sends in flight")
        }
    }
}
