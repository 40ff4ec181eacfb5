import ArgumentParser
import Foundation
import Herald

/// `herald deliveries`: look at and act on deliveries.
struct DeliveriesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deliveries",
        abstract: "List, show, replay or cancel deliveries.",
        discussion: """
            Examples:
              herald deliveries list --state dead --since 1h
              herald deliveries show 42
              herald deliveries replay 42 43
              herald deliveries replay --state dead --endpoint https://example.com/hooks
              herald deliveries cancel 44

            Exit codes: 0 success; 1 database error or unknown delivery; 64 invalid arguments.
            """,
        subcommands: [List.self, Show.self, Replay.self, Cancel.self]
    )

    /// --state/--endpoint/--since, shared by list, replay and cancel.
    struct FilterOptions: ParsableArguments {
        @Option(help: "pending, delivered, failed, dead or cancelled (repeatable).")
        var state: [String] = []

        @Option(help: "Endpoint id or URL.")
        var endpoint: String?

        @Option(help: "Only deliveries created within this long, e.g. 1h.")
        var since: String?

        func filter() throws -> DeliveryAdminStore.Filter {
            let states = try state.map { name -> DeliveryState in
                guard let s = DeliveryState(rawValue: name) else {
                    throw ValidationError("invalid --state \(name.debugDescription): use pending, delivered, failed, dead or cancelled")
                }
                return s
            }
            do {
                return DeliveryAdminStore.Filter(states: states, endpoint: endpoint, since: try since.map { try DurationText.parse($0, name: "--since") })
            } catch let e as HeraldError {
                throw ValidationError(e.message)
            }
        }

        func validate() throws { _ = try filter() }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List deliveries, newest first.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var filter: FilterOptions
        @Option(help: "At most this many, 1-10000.") var limit: Int = 50
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 10000, got \(limit)") }
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let rows = try await DeliveryAdminStore(schema: schema).list(try filter.filter(), limit: limit, on: conn)
                if json { return print(try JSONOutput.encode(rows)) }
                print(TextTable.render(
                    header: ["ID", "STATE", "ATTEMPTS", "LAST", "URL", "EVENT", "CREATED"],
                    rows: rows.map { d in
                        [String(d.id), d.state, String(d.attempts), d.lastStatus.map(String.init) ?? "-", d.url,
                         [d.eventType, d.eventID ?? ""].filter { !$0.isEmpty }.joined(separator: " "), TextTable.time(d.createdAt)]
                    }))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "A delivery and its attempts as a timeline.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Delivery id.") var id: Int64
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let (d, attempts) = try await DeliveryAdminStore(schema: schema).show(id: id, on: conn)
                if json {
                    struct Shown: Encodable { var delivery: DeliveryAdminStore.Delivery; var attempts: [DeliveryAdminStore.Attempt] }
                    return print(try JSONOutput.encode(Shown(delivery: d, attempts: attempts)))
                }
                print("delivery \(d.id)  \(d.state)  \(d.url)")
                print("event    \(d.eventType.isEmpty ? "-" : d.eventType)  id \(d.eventID ?? "-")  key \(d.idempotencyKey)")
                print("\(TextTable.time(d.createdAt))  enqueued")
                for a in attempts {
                    let status = a.statusCode.map { "HTTP \($0)" } ?? "no answer"
                    let next = a.nextAttemptAt.map { ", next at \(TextTable.time($0))" } ?? ""
                    print("\(TextTable.time(a.startedAt))  attempt \(a.attempt): \(a.outcome), \(status), \(a.durationMs ?? 0) ms by \(a.workerID)\(next)")
                    if let error = a.error { print("    error: \(error)") }
                }
                if let end = d.finishedAt { print("\(TextTable.time(end))  ended \(d.state)\(d.lastError.map { ": \($0)" } ?? "")") }
                else { print("pending: next attempt at \(TextTable.time(d.nextAttemptAt))") }
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replay", abstract: "Back to pending with a fresh attempt budget; same body and idempotency key.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var filter: FilterOptions
        @Argument(help: "Delivery ids (or use --state).") var ids: [Int64] = []

        func validate() throws {
            if ids.isEmpty && filter.state.isEmpty { throw ValidationError("give delivery ids, or --state dead|failed|cancelled") }
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let n = try await DeliveryAdminStore(schema: schema).replay(ids: ids.isEmpty ? nil : ids, filter: try filter.filter(), on: conn)
                print("replayed \(n) deliveries")
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cancel", abstract: "Cancel pending deliveries (ones being sent right now are left alone).")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var filter: FilterOptions
        @Argument(help: "Delivery ids (or use --endpoint/--since).") var ids: [Int64] = []

        func validate() throws {
            if ids.isEmpty && filter.endpoint == nil && filter.since == nil {
                throw ValidationError("give delivery ids, or --endpoint/--since to cancel matching pending deliveries")
            }
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let n = try await DeliveryAdminStore(schema: schema).cancel(ids: ids.isEmpty ? nil : ids, filter: try filter.filter(), on: conn)
                print("cancelled \(n) deliveries")
            }
        }
    }
}
