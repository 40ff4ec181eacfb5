import ArgumentParser
import Herald

extension EndpointsCommand {
    /// `herald endpoints set`: every per-endpoint setting.
    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Change an endpoint's settings (fleet-wide, applied at the next lease).",
            discussion: """
                Only the settings given change. `none` returns a setting to the worker's default; `all` makes
                --types or --channels receive everything. --header adds or replaces one header (repeatable),
                --remove-header drops one; values may be credentials, are stored sealed when HERALD_ENCRYPTION_KEY
                is set, and are never printed. Limits hold across every worker process (docs/flow_control.md).

                Examples:
                  herald endpoints set 12 --types 'invoice.*,order.created' --channels eu,us
                  herald endpoints set 12 --header 'Authorization: Bearer t0k' --remove-header X-Old
                  herald endpoints set 12 --timeout 5s --max-attempts 10 --backoff-base 10s --backoff-cap 1h
                  herald endpoints set https://customer.example/hooks --app cust_42 --rate-limit 50/s
                  herald endpoints set 12 --max-in-flight 3 --ordered on
                  herald endpoints set 12 --types all --timeout none --max-in-flight none --rate-limit none --ordered off

                Exit codes: 0 changed; 1 unknown endpoint or database error; 64 invalid arguments (what the
                database refuses included: types, channels, headers, a backoff cap below its base).
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Endpoint id or URL.") var endpoint: String
        @Option(name: .customLong("app"), help: "The application, when the URL is registered in several.") var application: String?
        @Option(help: "What the endpoint is, for operators.") var description: String?
        @Option(help: "Event types, comma-separated: exact or prefix (invoice.*), or all.") var types: String?
        @Option(help: "Channels, comma-separated, or all.") var channels: String?
        @Option(name: .customLong("header"), help: ArgumentHelp("Add or replace a request header 'Name: value' (repeatable).", valueName: "header"))
        var headers: [String] = []
        @Option(name: .customLong("remove-header"), help: ArgumentHelp("Remove a request header by name (repeatable).", valueName: "name"))
        var removeHeaders: [String] = []
        @Option(help: "Request timeout, 100ms-5m, or none.") var timeout: String?
        @Option(help: "Attempts per delivery, 1-50, or none.") var maxAttempts: String?
        @Option(help: "First retry delay, at least 1s, or none.") var backoffBase: String?
        @Option(help: "Longest retry delay, at least the base, or none.") var backoffCap: String?
        @Option(help: "Requests in flight to this endpoint across all workers, at most (1-10000), or none.") var maxInFlight: String?
        @Option(help: "Requests per second or minute across all workers (50/s, 300/min), or none.") var rateLimit: String?
        @Option(help: "on: one request at a time, oldest first (a failing head holds back the rest); off: no order.") var ordered: String?
        @Flag(help: "Print JSON.") var json = false

        /// A whole number or `none`.
        static func number(_ text: String?, name: String) throws -> Int?? {
            guard let text else { return nil }
            if text == "none" { return .some(nil) }
            guard let n = Int(text) else { throw HeraldError.invalid("\(name) must be a whole number or none, got \(text.debugDescription)") }
            return .some(n)
        }

        /// A duration with a unit or `none`.
        static func duration(_ text: String?, name: String) throws -> Duration?? {
            guard let text else { return nil }
            if text == "none" { return .some(nil) }
            return .some(try DurationText.parse(text, name: name))
        }

        func change() throws -> EndpointStore.SettingsChange {
            var change = EndpointStore.SettingsChange()
            change.description = description
            if let types { change.eventTypes = .some(try HeaderArguments.list(types, name: "--types")) }
            if let channels { change.channels = .some(try HeaderArguments.list(channels, name: "--channels")) }
            change.setHeaders = try HeaderArguments.parse(headers)
            change.removeHeaders = removeHeaders
            change.requestTimeout = try Self.duration(timeout, name: "--timeout")
            change.maxAttempts = try Self.number(maxAttempts, name: "--max-attempts")
            change.backoffBase = try Self.duration(backoffBase, name: "--backoff-base")
            change.backoffCap = try Self.duration(backoffCap, name: "--backoff-cap")
            change.flowControl.maxInFlight = try Self.number(maxInFlight, name: "--max-in-flight")
            if let rateLimit { change.flowControl.rateLimit = rateLimit == "none" ? .some(nil) : .some(try RateLimit(parsing: rateLimit)) }
            if let ordered {
                switch ordered.lowercased() {
                case "on", "true", "yes": change.flowControl.ordered = true
                case "off", "false", "no": change.flowControl.ordered = false
                default: throw HeraldError.invalid("--ordered must be on or off, got \(ordered.debugDescription)")
                }
            }
            guard !change.isEmpty else {
                throw HeraldError.invalid(
                    "nothing to set: give --description, --types, --channels, --header, --remove-header, --timeout, --max-attempts, --backoff-base, --backoff-cap, --max-in-flight, --rate-limit or --ordered")
            }
            try change.validate()
            return change
        }

        func validate() throws {
            do { _ = try change() } catch let error as HeraldError { throw ValidationError(error.message) }
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let e = try await EndpointStore(schema: schema, keys: try EncryptionKeys.from()).update(
                    endpoint, application: application, try change(), on: conn)
                if json { return print(try JSONOutput.encode(e)) }
                print(EndpointsCommand.detailLines(e).joined(separator: "\n"))
            }
        }
    }

    /// `endpoints show` and `endpoints set` print flow control the same way.
    static func flowControlLines(_ e: EndpointStore.Endpoint) -> [String] {
        [
            "max in flight \(e.maxInFlight.map(String.init) ?? "worker default (adaptive window up to --max-in-flight-per-endpoint)")",
            "rate limit    \(e.rateLimitPerMinute.flatMap { try? RateLimit(perMinute: $0) }.map { "\($0) (burst \($0.burst))" } ?? "none")",
            "ordered       \(e.ordered ? "on (one request at a time, oldest first)" : "off")",
        ]
    }
}
