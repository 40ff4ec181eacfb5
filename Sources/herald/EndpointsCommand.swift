import ArgumentParser
import Foundation
import Herald

/// `herald endpoints`: destinations and their signing secrets.
struct EndpointsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoints",
        abstract: "Add, list, show, disable, enable endpoints and rotate their signing secrets.",
        discussion: """
            Enqueueing to a new URL creates its endpoint with a random secret; `add` registers one ahead with a
            secret you choose or get printed. `rotate-secret` signs with both the new and the old secret during
            the grace period (Standard Webhooks allows several signatures), so receivers can switch over.

            Examples:
              herald endpoints add --url https://example.com/hooks
              herald endpoints show https://example.com/hooks --show-secret
              herald endpoints disable 3 --reason "customer asked us to stop"
              herald endpoints rotate-secret 3 --grace 24h

            Exit codes: 0 success; 1 refused input, unknown endpoint or database error; 64 invalid arguments.
            """,
        subcommands: [Add.self, List.self, Show.self, Set.self, Disable.self, Enable.self, RotateSecret.self]
    )

    static func secret(_ given: String?) throws -> WebhookSecret {
        if let given { return try WebhookSecret(given) }
        var random = SystemRandomNumberGenerator()
        return WebhookSecret.generate(using: &random)
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Register an endpoint; prints its id and secret.",
            discussion: """
                Examples:
                  herald endpoints add --url https://example.com/hooks
                  herald endpoints add --url https://example.com/hooks --max-attempts 5 --json

                Exit codes: 0 added; 1 already exists or database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Endpoint URL (http or https).") var url: String
        @Option(help: "whsec_… secret (default: a new random one).") var secret: String?
        @Option(help: "Attempts per delivery for this endpoint, 1-50.") var maxAttempts: Int?
        @Option(help: "Share a circuit breaker with other endpoints naming the same key.") var breakerKey: String?
        @Flag(help: "Print JSON: id, url, secret.") var json = false

        func validate() throws {
            if let problem = WebhookURLCheck.problem(url) {
                throw ValidationError("invalid --url \(String(url.prefix(100)).debugDescription): \(problem)")
            }
            if let maxAttempts, !(1...50).contains(maxAttempts) {
                throw ValidationError("--max-attempts must be between 1 and 50, got \(maxAttempts)")
            }
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let key = try EndpointsCommand.secret(secret)
                let id = try await EndpointStore(schema: schema, keys: try EncryptionKeys.from()).add(url: url, secret: key, maxAttempts: maxAttempts, breakerKey: breakerKey, on: conn)
                if json {
                    struct Added: Encodable { var id: Int64; var url: String; var secret: String }
                    return print(try JSONOutput.encode(Added(id: id, url: url, secret: key.encoded)))
                }
                print("endpoint \(id)  \(url)")
                print("secret   \(key.encoded)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List endpoints.",
            discussion: """
                Examples:
                  herald endpoints list
                  herald endpoints list --json

                Exit codes: 0 success; 1 database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let endpoints = try await EndpointStore(schema: schema).list(on: conn)
                if json { return print(try JSONOutput.encode(endpoints)) }
                if endpoints.isEmpty { return print("no endpoints (enqueueing to a new URL or `herald endpoints add` creates one)") }
                print(TextTable.render(
                    header: ["ID", "ENABLED", "PENDING", "BREAKER", "URL"],
                    rows: endpoints.map { e in
                        [String(e.id), e.enabled ? "yes" : TextTable.truncate("no (\(e.disabledReason ?? ""))", to: 40), String(e.pending),
                         e.breakerKey, TextTable.truncate(e.url)]
                    }))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "One endpoint by id or URL.",
            discussion: """
                Examples:
                  herald endpoints show 3
                  herald endpoints show https://example.com/hooks --show-secret

                Exit codes: 0 success; 1 unknown endpoint or database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Endpoint id or URL.") var endpoint: String
        @Flag(help: "Also print the signing secret.") var showSecret = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let e = try await EndpointStore(schema: schema, keys: try EncryptionKeys.from()).find(endpoint, withSecret: showSecret, on: conn)
                if json { return print(try JSONOutput.encode(e)) }
                print("endpoint     \(e.id)  \(e.url)")
                print("enabled      \(e.enabled ? "yes" : "no: \(e.disabledReason ?? "")")")
                print("pending      \(e.pending)")
                print("breaker key  \(e.breakerKey)")
                print("max attempts \(e.maxAttempts.map(String.init) ?? "worker default")")
                for line in EndpointsCommand.flowControlLines(e) { print(line) }
                if let until = e.previousSecretExpiresAt, until > Date() { print("rotation     old secret also signs until \(TextTable.time(until))") }
                if let secret = e.secret { print("secret       \(secret)") }
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "disable", abstract: "Stop sending to an endpoint; its due deliveries fail with the reason.",
            discussion: """
                Examples:
                  herald endpoints disable 3 --reason "customer asked us to stop"

                Exit codes: 0 disabled; 1 unknown endpoint or database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Endpoint id or URL.") var endpoint: String
        @Option(help: "Why (stored and shown on its failed deliveries).") var reason: String

        func validate() throws {
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty, reason.count <= 500 else {
                throw ValidationError("--reason must be 1 to 500 characters")
            }
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                try await EndpointStore(schema: schema).setEnabled(endpoint, enabled: false, reason: reason, on: conn)
                print("endpoint \(endpoint) disabled")
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "enable", abstract: "Send to an endpoint again (replay its failed deliveries with `deliveries replay`).",
            discussion: """
                Examples:
                  herald endpoints enable 3
                  herald deliveries replay --state failed --endpoint 3

                Exit codes: 0 enabled; 1 unknown endpoint or database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Endpoint id or URL.") var endpoint: String

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                try await EndpointStore(schema: schema).setEnabled(endpoint, enabled: true, reason: nil, on: conn)
                print("endpoint \(endpoint) enabled")
            }
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret", abstract: "New signing secret; the old one also signs during the grace period.",
            discussion: """
                Examples:
                  herald endpoints rotate-secret 3 --grace 24h
                  herald endpoints rotate-secret https://example.com/hooks --grace 1h30m

                Exit codes: 0 rotated; 1 unknown endpoint or database error; 64 invalid arguments (a --grace outside 1m to 30d included).
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Endpoint id or URL.") var endpoint: String
        @Option(help: "whsec_… secret (default: a new random one).") var secret: String?
        @Option(help: "How long the old secret keeps signing, 1m to 30d, e.g. 24h.") var grace: String = "24h"
        @Flag(help: "Print JSON: secret, previous_secret_signs_until.") var json = false

        func validate() throws {
            do { _ = try EndpointStore.checkedGrace(try DurationText.parse(grace, name: "--grace")) } catch let e as HeraldError {
                throw ValidationError(e.message)
            }
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let key = try EndpointsCommand.secret(secret)
                let until = try await EndpointStore(schema: schema, keys: try EncryptionKeys.from()).rotateSecret(
                    endpoint, to: key, grace: try DurationText.parse(grace, name: "--grace"), on: conn)
                if json {
                    struct Rotated: Encodable { var secret: String; var previousSecretSignsUntil: Date }
                    return print(try JSONOutput.encode(Rotated(secret: key.encoded, previousSecretSignsUntil: until)))
                }
                print("secret   \(key.encoded)")
                print("the previous secret also signs for \(grace), until \(TextTable.time(until))")
            }
        }
    }
}
