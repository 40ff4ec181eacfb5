import ArgumentParser
import Foundation
import Herald

/// `herald applications`: the customers whose endpoints receive published events.
struct ApplicationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "applications",
        abstract: "Add, list, show and change applications (one per customer; `publish` creates them on first use).",
        discussion: """
            An application owns endpoints and messages. Its retention (whole days) replaces `herald prune
            --older-than` for its finished deliveries and messages; `none` returns to the prune's cut-off.
            'default' holds what `enqueue --url` creates; '_operations' receives Herald's operational events.

            Examples:
              herald applications add cust_42 --name "Acme Corp" --retention 30d
              herald applications list
              herald applications show cust_42
              herald applications set cust_42 --retention none

            Exit codes: 0 success; 1 unknown or existing application, or database error; 64 invalid arguments.
            """,
        subcommands: [Add.self, List.self, Show.self, Set.self]
    )

    static func printApplication(_ a: ApplicationStore.Application) {
        print("application \(a.id)")
        print("name        \(a.name)")
        print("retention   \(a.retentionDays.map { "\($0)d (replaces herald prune --older-than)" } ?? "herald prune --older-than")")
        print("endpoints   \(a.endpoints) (\(a.enabledEndpoints) enabled)")
        print("messages    \(a.messages)")
        print("created     \(TextTable.time(a.createdAt))")
    }

    static func retention(_ text: String?) throws -> Int?? {
        guard let text else { return nil }
        if text == "none" { return .some(nil) }
        do { return .some(try ApplicationStore.retentionDays(parsing: text)) } catch let e as HeraldError { throw ValidationError(e.message) }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Create an application.",
            discussion: """
                Examples:
                  herald applications add cust_42 --name "Acme Corp"
                  herald applications add cust_43 --retention 7d --json

                Exit codes: 0 added; 1 already exists or database error; 64 invalid arguments (an invalid id included).
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Application id: 1-128 letters, digits and _ . : @ -, starting with a letter or digit.") var id: String
        @Option(help: "Display name (default: the id).") var name: String?
        @Option(help: "Keep finished deliveries this many whole days, e.g. 30d (default: herald prune --older-than).") var retention: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            if case .some(.none) = try ApplicationsCommand.retention(retention) { throw ValidationError("--retention none is the default: leave it out") }
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let a = try await ApplicationStore(schema: schema).add(
                    id: id, name: name, retentionDays: try ApplicationsCommand.retention(retention).flatMap { $0 }, on: conn)
                if json { return print(try JSONOutput.encode(a)) }
                ApplicationsCommand.printApplication(a)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List applications.",
            discussion: """
                Examples:
                  herald applications list
                  herald applications list --json

                Exit codes: 0 success; 1 database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let apps = try await ApplicationStore(schema: schema).list(on: conn)
                if json { return print(try JSONOutput.encode(apps)) }
                print(TextTable.render(
                    header: ["ID", "NAME", "RETENTION", "ENDPOINTS", "MESSAGES"],
                    rows: apps.map { a in
                        [a.id, TextTable.truncate(a.name, to: 40), a.retentionDays.map { "\($0)d" } ?? "-",
                         "\(a.endpoints) (\(a.enabledEndpoints) enabled)", String(a.messages)]
                    }))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "One application.",
            discussion: """
                Examples:
                  herald applications show cust_42
                  herald applications show cust_42 --json

                Exit codes: 0 success; 1 unknown application or database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Application id.") var id: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let a = try await ApplicationStore(schema: schema).find(id, on: conn)
                if json { return print(try JSONOutput.encode(a)) }
                ApplicationsCommand.printApplication(a)
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Change an application's name or retention.",
            discussion: """
                Examples:
                  herald applications set cust_42 --name "Acme Corporation"
                  herald applications set cust_42 --retention 90d
                  herald applications set cust_42 --retention none

                Exit codes: 0 changed; 1 unknown application or database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Application id.") var id: String
        @Option(help: "Display name.") var name: String?
        @Option(help: "Whole days, e.g. 30d, or none for herald prune --older-than.") var retention: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            if name == nil && retention == nil { throw ValidationError("nothing to set: give --name or --retention") }
            _ = try ApplicationsCommand.retention(retention)
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let a = try await ApplicationStore(schema: schema).set(id, name: name, retentionDays: try ApplicationsCommand.retention(retention), on: conn)
                if json { return print(try JSONOutput.encode(a)) }
                ApplicationsCommand.printApplication(a)
            }
        }
    }
}
