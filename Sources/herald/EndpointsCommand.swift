import ArgumentParser
import Foundation
import Herald

/// `herald endpoints`: destinations and their signing secrets.
struct EndpointsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoints",
        abstract: "Add, list, show, disable, enable, test and delete endpoints and rotate their signing secrets.",
        discussion: """
            Every endpoint belongs to an application (--app, default 'default'); the same URL in two
            applications is two endpoints with two secrets. Enqueueing to a new URL creates its endpoint in
            'default' with a random secret; `add` registers one ahead with a secret you choose or get printed,
            and what it subscribes to. An endpoint given by a URL registered in several applications needs --app.
            `rotate-secret` signs with both the new and the old secret during the grace period (Standard
            Webhooks allows several signatures), so receivers can switch over.

            Examples:
              herald endpoints add --app cust_42 --url https://example.com/hooks --types 'invoice.*'
              herald endpoints list --app cust_42
              herald endpoints show https://example.com/hooks --app cust_42 --show-secret
              herald endpoints disable 3 --reason "customer asked us to stop"
              herald endpoints enable 3 --replay-since 2h
              herald endpoints rotate-secret 3 --grace 24h
              herald endpoints test 3
              herald endpoints delete 3

            Exit codes: 0 success; 1 refused input, unknown endpoint or database error; 64 invalid arguments.
            """,
        subcommands: [Add.self, List.self, Show.self, Set.self, Disable.self, Enable.self, RotateSecret.self, Test.self, Delete.self]
    )

    static func secret(_ given: String?) throws -> WebhookSecret {
        if let given { return try WebhookSecret(given) }
        var random = SystemRandomNumberGenerator()
        return WebhookSecret.generate(using: &random)
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Register an endpoint of an application; prints its id and secret.",
            discussion: """
                --types takes exact event types and prefix wildcards (invoice.paid,invoice.*; default: every
                type); --channels limits it to messages on one of those channels (default: every message).
                --header values may hold credentials: they are stored sealed when HERALD_ENCRYPTION_KEY is set,
                and never printed. A new --app is created, as `publish` does.

                Examples:
                  herald endpoints add --url https://example.com/hooks
                  herald endpoints add --app cust_42 --url https://example.com/hooks --types 'invoice.*,order.created' --channels eu
                  herald endpoints add --app cust_42 --url https://example.com/hooks --header 'Authorization: Bearer t0k' --timeout 5s --json

                Exit codes: 0 added; 1 already exists in the application, or database error; 64 invalid arguments
                (what the database refuses included: types, channels, headers, application id).
                """)
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .customLong("app"), help: "Application id.") var application: String = "default"
        @Option(help: "Endpoint URL (http or https).") var url: String
        @Option(help: "whsec_… secret (default: a new random one).") var secret: String?
        @Option(help: "What the endpoint is, for operators.") var description: String = ""
        @Option(help: "Event types, comma-separated: exact (invoice.paid) or prefix (invoice.*); default every type.") var types: String?
        @Option(help: "Channels, comma-separated; default every message.") var channels: String?
        @Option(name: .customLong("header"), help: ArgumentHelp("Extra request header 'Name: value' (repeatable).", valueName: "header"))
        var headers: [String] = []
        @Option(help: "Request timeout, 100ms-5m, below the worker's (e.g. 5s).") var timeout: String?
        @Option(help: "Attempts per delivery for this endpoint, 1-50.") var maxAttempts: Int?
        @Option(help: "Share a circuit breaker with other endpoints naming the same key.") var breakerKey: String?
        @Flag(help: "Print JSON: id, application_id, url, secret.") var json = false

        func validate() throws {
            if let problem = WebhookURLCheck.problem(url) {
                throw ValidationError("invalid --url \(String(url.prefix(100)).debugDescription): \(problem)")
            }
            if let maxAttempts, !(1...50).contains(maxAttempts) {
                throw ValidationError("--max-attempts must be between 1 and 50, got \(maxAttempts)")
            }
            _ = try new(secret: EndpointsCommand.secret(nil))
        }

        func new(secret: WebhookSecret) throws -> EndpointStore.NewEndpoint {
            var e = EndpointStore.NewEndpoint(application: application, url: url, secret: secret)
            e.maxAttempts = maxAttempts
            e.breakerKey = breakerKey
            e.description = description
            e.eventTypes = try types.flatMap { try HeaderArguments.list($0, name: "--types") }
            e.channels = try channels.flatMap { try HeaderArguments.list($0, name: "--channels") }
            e.headers = try HeaderArguments.parse(headers)
            do {
                e.requestTimeout = try timeout.map { try DurationText.parse($0, name: "--timeout") }
                if let t = e.requestTimeout { _ = try EndpointStore.checkedTimeoutMilliseconds(t) }
            } catch let error as HeraldError { throw ValidationError(error.message) }
            return e
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let key = try EndpointsCommand.secret(secret)
                let (id, created) = try await EndpointStore(schema: schema, keys: try EncryptionKeys.from()).add(try new(secret: key), on: conn)
                if created { CommandRunner.warn("application \(application.debugDescription) did not exist: created it") }
                if json {
                    struct Added: Encodable { var id: Int64; var applicationID: String; var url: String; var secret: String }
                    return print(try JSONOutput.encode(Added(id: id, applicationID: application, url: url, secret: key.encoded)))
                }
                print("endpoint \(id)  \(url)  (application \(application))")
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
                  herald endpoints list --app cust_42 --json

                Exit codes: 0 success; 1 database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .customLong("app"), help: "Only this application's endpoints.") var application: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let endpoints = try await EndpointStore(schema: schema, keys: try EncryptionKeys.from()).list(application: application, on: conn)
                if json { return print(try JSONOutput.encode(endpoints)) }
                if endpoints.isEmpty { return print("no endpoints (enqueueing to a new URL or `herald endpoints add` creates one)") }
                print(TextTable.render(
                    header: ["ID", "APP", "ENABLED", "PENDING", "TYPES", "BREAKER", "URL"],
                    rows: endpoints.map { e in
                        [String(e.id), TextTable.truncate(e.applicationID, to: 20), e.enabled ? "yes" : TextTable.truncate("no (\(e.disabledReason ?? ""))", to: 40),
                         String(e.pending), TextTable.truncate(e.eventTypes?.joined(separator: ",") ?? "all", to: 30), e.breakerKey, TextTable.truncate(e.url)]
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
                  herald endpoints show https://example.com/hooks --app cust_42 --show-secret

                Exit codes: 0 success; 1 unknown endpoint or database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Endpoint id or URL.") var endpoint: String
        @Option(name: .customLong("app"), help: "The application, when the URL is registered in several.") var application: String?
        @Flag(help: "Also print the signing secret.") var showSecret = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let e = try await EndpointStore(schema: schema, keys: try EncryptionKeys.from()).find(
                    endpoint, application: application, withSecret: showSecret, on: conn)
                if json { return print(try JSONOutput.encode(e)) }
                print(EndpointsCommand.detailLines(e).joined(separator: "\n"))
                if let secret = e.secret { print("secret       \(secret)") }
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
        @Option(name: .customLong("app"), help: "The application, when the URL is registered in several.") var application: String?
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
                    endpoint, application: application, to: key, grace: try DurationText.parse(grace, name: "--grace"), on: conn)
                if json {
                    struct Rotated: Encodable { var secret: String; var previousSecretSignsUntil: Date }
                    return print(try JSONOutput.encode(Rotated(secret: key.encoded, previousSecretSignsUntil: until)))
                }
                print("secret   \(key.encoded)")
                print("the previous secret also signs for \(grace), until \(TextTable.time(until))")
            }
        }
    }

    /// `endpoints show` and `endpoints set` print an endpoint the same way; header values never.
    static func detailLines(_ e: EndpointStore.Endpoint) -> [String] {
        var lines = [
            "endpoint     \(e.id)  \(e.url)",
            "application  \(e.applicationID)",
            "description  \(e.description.isEmpty ? "-" : e.description)",
            "enabled      \(e.enabled ? "yes" : "no: \(e.disabledReason ?? "")\(e.disabledAt.map { " (since \(TextTable.time($0)))" } ?? "")")",
        ]
        if let since = e.failingSince { lines.append("failing      every attempt failed since \(TextTable.time(since))") }
        let headers: String
        if let names = e.headerNames {
            headers = names.isEmpty ? "none" : names.map { "\($0): [redacted]" }.joined(separator: ", ") + (e.headersSealed ? " (sealed)" : "")
        } else {
            headers = "sealed (set HERALD_ENCRYPTION_KEY to see their names)"
        }
        lines += [
            "types        \(e.eventTypes?.joined(separator: ", ") ?? "all")",
            "channels     \(e.channels?.joined(separator: ", ") ?? "all")",
            "headers      \(headers)",
            "timeout      \(e.requestTimeoutMs.map { "\($0) ms" } ?? "worker default")",
            "pending      \(e.pending)",
            "breaker key  \(e.breakerKey)",
            "max attempts \(e.maxAttempts.map(String.init) ?? "worker default")",
            "backoff      base \(e.backoffBaseMs.map { "\($0) ms" } ?? "worker default"), cap \(e.backoffCapMs.map { "\($0) ms" } ?? "worker default")",
        ]
        lines += flowControlLines(e)
        if let until = e.previousSecretExpiresAt, until > Date() { lines.append("rotation     old secret also signs until \(TextTable.time(until))") }
        return lines
    }
}
