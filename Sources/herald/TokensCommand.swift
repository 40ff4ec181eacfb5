import ArgumentParser
import Foundation
import Herald

/// `herald tokens`: bearer tokens of the admin API (`herald serve`).
struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Create, list and revoke API tokens for `herald serve`.",
        discussion: """
            An admin token sees every application; an application token (--app) sees only its own
            application, and anything else answers 404. The token is printed once: only its SHA-256 and its
            public id are stored.

            Examples:
              herald tokens create --admin --name ops
              herald tokens create --app cust_42 --expires 90d
              herald tokens list --json
              herald tokens revoke k7q2x9ab3mzp

            Exit codes: 0 success; 1 database error or unknown token; 64 invalid arguments.
            """,
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create", abstract: "Create a token and print it (once).",
            discussion: """
                Examples:
                  herald tokens create --admin
                  herald tokens create --app cust_42 --name "cust_42 backend" --expires 90d

                Exit codes: 0 success; 1 database error or unknown application; 64 invalid arguments.
                """)

        @OptionGroup var connection: ConnectionOptions

        @Flag(help: "A token that sees every application.")
        var admin = false

        @Option(help: ArgumentHelp("A token that sees only this application.", valueName: "id"))
        var app: String?

        @Option(help: "A name to recognise the token by.")
        var name: String = ""

        @Option(help: ArgumentHelp("Expire after this long (e.g. 90d); default never.", valueName: "duration"))
        var expires: String?

        @Flag(help: "Print JSON (with the token).")
        var json = false

        func validate() throws {
            guard admin != (app != nil) else { throw ValidationError("give exactly one of --admin and --app ID") }
            if let expires {
                do { _ = try DurationText.parse(expires, name: "--expires") } catch let error as HeraldError { throw ValidationError(error.message) }
            }
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let token = APIToken.generate()
                let expiresIn = try expires.map { try DurationText.parse($0, name: "--expires") }
                let stored = try await TokenStore(schema: schema).tokenCreate(token, application: app, name: name, expiresIn: expiresIn, on: conn)
                if json {
                    struct Created: Encodable {
                        var token: String
                        var id: String
                        var applicationId: String?
                        var name: String
                        var expiresAt: Date?
                    }
                    print(try JSONOutput.encode(Created(
                        token: token.text, id: stored.id, applicationId: stored.applicationID, name: stored.name, expiresAt: stored.expiresAt)))
                    return
                }
                print(token.text)
                let scope = stored.applicationID.map { "application \($0)" } ?? "admin"
                let expiry = stored.expiresAt.map { ", expires \(TextTable.time($0))" } ?? ""
                FileHandle.standardError.write(Data("herald: token \(stored.id) (\(scope)\(expiry)) created; it is shown only now\n".utf8))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List tokens (never their secret).",
            discussion: """
                Examples:
                  herald tokens list
                  herald tokens list --json

                Exit codes: 0 success; 1 database error; 64 invalid arguments.
                """)

        @OptionGroup var connection: ConnectionOptions

        @Flag(help: "Print JSON.")
        var json = false

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let tokens = try await TokenStore(schema: schema).tokenList(on: conn)
                if json {
                    print(try JSONOutput.encode(tokens))
                    return
                }
                if tokens.isEmpty {
                    print("no tokens yet: `herald tokens create --admin` makes one")
                    return
                }
                let rows = tokens.map { t in
                    [
                        t.id, t.applicationID ?? "(admin)", t.name.isEmpty ? "-" : TextTable.truncate(t.name, to: 30), TextTable.time(t.createdAt),
                        t.expiresAt.map { TextTable.time($0) } ?? "never", t.revokedAt.map { "revoked " + TextTable.time($0) } ?? "active",
                        t.lastUsedAt.map { TextTable.time($0) } ?? "-",
                    ]
                }
                print(TextTable.render(header: ["ID", "APPLICATION", "NAME", "CREATED", "EXPIRES", "STATE", "LAST USED"], rows: rows))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke", abstract: "Revoke a token at once.",
            discussion: """
                Examples:
                  herald tokens revoke k7q2x9ab3mzp

                Exit codes: 0 success (also when it was revoked already); 1 unknown token or database error.
                """)

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: "The token's id, as `herald tokens list` shows it.")
        var id: String

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let changed = try await TokenStore(schema: schema).tokenRevoke(id: id, on: conn)
                print(changed ? "revoked \(id)" : "\(id) was already revoked")
            }
        }
    }
}
