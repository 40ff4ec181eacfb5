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
        subcommands: [Add.self, List.self, Show.self, Disable.self, Enable.self, RotateSecret.self]
    )

    static func secret(_ given: String?) throws -> WebhookSecret {
        if let given { return try WebhookSecret(given) }
        var random = SystemRandomNumberGenerator()
        return WebhookSecret.generate(using: &random)
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Register an endpoint; prints its id and secret.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Endpoint URL (http or https).") var url: String
        @Option(help: "whsec_… secret (default: a new random one).") var secret: String?
        @Option(help: "Attempts per delivery for this endpoint, 1-50.") var maxAttempts: Int?
        @Option(help: "Share a circuit breaker with other endpoints naming the same key.") var breakerKey: String?

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let key = try EndpointsCommand.secret(secret)
                let id = try await EndpointStore(schema: schema, keys: try EncryptionKeys.from()).add(url: url, secret: key, maxAttempts: maxAttempts, breakerKey: breakerKey, on: conn)
                print("endpoint \(id)  \(url)")
                print("secret   \(key.encoded)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List endpoints.")
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let endpoints = try await EndpointStore(schema: schema).list(on: conn)
                if json { return print(try JSONOutput.encode(endpoints)) }
                print(TextTable.render(
                    header: ["ID", "ENABLED", "PENDING", "BREAKER", "URL"],
                    rows: endpoints.map { e in
                        [String(e.id), e.enabled ? "yes" : "no (\(e.disabledReason ?? ""))", String(e.pending), e.breakerKey, e.url]
                    }))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "One endpoint by id or URL.")
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
                if let until = e.previousSecretExpiresAt, until > Date() { print("rotation     old secret also signs until \(TextTable.time(until))") }
                if let secret = e.secret { print("secret       \(secret)") }
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "disable", abstract: "Stop sending to an endpoint; its due deliveries fail with the reason.")
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
            commandName: "enable", abstract: "Send to an endpoint again (replay its failed deliveries with `deliveries replay`).")
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
            commandName: "rotate-secret", abstract: "New signing secret; the old one also signs during the grace period.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Endpoint id or URL.") var endpoint: String
        @Option(help: "whsec_… secret (default: a new random one).") var secret: String?
        @Option(help: "How long the old secret keeps signing, e.g. 24h.") var grace: String = "24h"

        func validate() throws {
            do { _ = try DurationText.parse(grace, name: "--grace") } catch let e as HeraldError { throw ValidationError(e.message) }
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let key = try EndpointsCommand.secret(secret)
                try await EndpointStore(schema: schema, keys: try EncryptionKeys.from()).rotateSecret(endpoint, to: key, grace: try DurationText.parse(grace, name: "--grace"), on: conn)
                print("secret   \(key.encoded)")
                print("the previous secret also signs for \(grace)")
            }
        }
    }
}
