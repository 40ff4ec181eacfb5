import ArgumentParser
import Foundation
import Herald

/// `herald messages`: published events and where each went.
struct MessagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "messages",
        abstract: "List and show published messages; replay a message's ended deliveries.",
        discussion: """
            A message is one published event: its payload stored once, fanned out to one delivery per
            subscribed endpoint. Payloads are never printed.

            Examples:
              herald messages list --app cust_42 --type invoice.paid
              herald messages show 42
              herald messages replay 42 --endpoint 7

            Exit codes: 0 success; 1 unknown message or database error; 64 invalid arguments.
            """,
        subcommands: [List.self, Show.self, Replay.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List messages, newest first.",
            discussion: """
                Examples:
                  herald messages list --app cust_42
                  herald messages list --type invoice.paid --limit 200 --json

                Exit codes: 0 success; 1 database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .customLong("app"), help: "Only this application's messages.") var application: String?
        @Option(name: .customLong("type"), help: "Only this event type.") var eventType: String?
        @Option(help: "At most this many, 1-10000.") var limit: Int = 50
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 10000, got \(limit)") }
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let rows = try await MessageStore(schema: schema).list(application: application, eventType: eventType, limit: limit, on: conn)
                if json { return print(try JSONOutput.encode(rows)) }
                if rows.isEmpty { return print("no messages") }
                print(TextTable.render(
                    header: ["ID", "APP", "TYPE", "EVENT ID", "SIZE", "DELIVERIES", "CREATED"],
                    rows: rows.map { m in
                        [String(m.id), TextTable.truncate(m.applicationID, to: 30), TextTable.truncate(m.eventType, to: 40), m.eventID ?? "-",
                         m.sizeBytes.map { "\($0) B" } ?? "pruned", String(m.deliveries), TextTable.time(m.createdAt)]
                    }))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "A message and its deliveries, one per endpoint.",
            discussion: """
                Examples:
                  herald messages show 42
                  herald messages show 42 --json

                Exit codes: 0 success; 1 unknown message or database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Message id.") var id: Int64
        @Flag(help: "Print JSON: message, deliveries.") var json = false

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let (m, deliveries) = try await MessageStore(schema: schema).show(id: id, on: conn)
                if json {
                    struct Shown: Encodable {
                        var message: MessageStore.Message
                        var deliveries: [MessageStore.EndpointDelivery]
                    }
                    return print(try JSONOutput.encode(Shown(message: m, deliveries: deliveries)))
                }
                print("message     \(m.id)")
                print("application \(m.applicationID)")
                print("type        \(m.eventType)  id \(m.eventID ?? "-")")
                print("channels    \(m.channels?.joined(separator: ", ") ?? "-")")
                print("payload     \(m.sizeBytes.map { "\($0) bytes, \(m.contentType)" } ?? "pruned \(m.payloadPrunedAt.map(TextTable.time) ?? "")")")
                print("created     \(TextTable.time(m.createdAt))")
                if deliveries.isEmpty { return print("no deliveries (no endpoint was subscribed, or they were pruned)") }
                print(TextTable.render(
                    header: ["DELIVERY", "ENDPOINT", "STATE", "ATTEMPTS", "LAST", "URL"],
                    rows: deliveries.map { d in
                        [String(d.deliveryID), String(d.endpointID), d.state, String(d.attempts),
                         d.lastStatus.map { "HTTP \($0)" } ?? d.lastError.map { TextTable.truncate($0, to: 40) } ?? "-", TextTable.truncate(d.url)]
                    }))
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replay", abstract: "Replay a message's failed, dead or cancelled deliveries (all endpoints, or one).",
            discussion: """
                Same as `herald deliveries replay` on the message's deliveries: back to pending with a fresh
                attempt budget, same payload and idempotency key, recorded in the audit timeline. Deliveries
                whose payload was pruned are skipped.

                Examples:
                  herald messages replay 42
                  herald messages replay 42 --endpoint 7 --json

                Exit codes: 0 done (even if nothing was replayed); 1 unknown message or endpoint, or database
                error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Message id.") var id: Int64
        @Option(help: "Only the delivery to this endpoint (id or URL).") var endpoint: String?
        @Flag(help: "Print JSON: changed, not_found, skipped (id, state, reason).") var json = false

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let (message, _) = try await MessageStore(schema: schema).show(id: id, on: conn)
                var filter = DeliveryAdminStore.Filter(messageID: message.id)
                if let endpoint {
                    let e = try await EndpointStore(schema: schema).find(endpoint, application: message.applicationID, on: conn)
                    filter.endpoint = String(e.id)
                }
                let store = DeliveryAdminStore(schema: schema)
                let ids = try await store.list(filter, limit: 10_000, on: conn).map(\.id)
                let report = try await store.replay(ids: ids, filter: filter, on: conn)
                try DeliveriesCommand.printReport(report, verb: "replayed", json: json)
            }
        }
    }
}
