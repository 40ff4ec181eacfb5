import ArgumentParser
import Herald

extension EndpointsCommand {
    /// `herald endpoints set`: per-endpoint flow control.
    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Change an endpoint's flow-control settings (fleet-wide, applied at the next lease).",
            discussion: """
                Limits hold across every worker process (docs/flow_control.md). `none` returns a setting to the
                worker's default.

                Examples:
                  herald endpoints set 12 --max-in-flight 3
                  herald endpoints set https://customer.example/hooks --rate-limit 50/s
                  herald endpoints set 12 --rate-limit 300/min --ordered on
                  herald endpoints set 12 --max-in-flight none --rate-limit none --ordered off
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Endpoint id or URL.") var endpoint: String
        @Option(help: "Requests in flight to this endpoint across all workers, at most (1-10000), or none.") var maxInFlight: String?
        @Option(help: "Requests per second or minute across all workers (50/s, 300/min), or none.") var rateLimit: String?
        @Option(help: "on: one request at a time, oldest first (a failing head holds back the rest); off: no order.") var ordered: String?
        @Flag(help: "Print JSON.") var json = false

        func change() throws -> EndpointStore.FlowControlChange {
            var change = EndpointStore.FlowControlChange()
            if let maxInFlight {
                if maxInFlight == "none" {
                    change.maxInFlight = .some(nil)
                } else if let n = Int(maxInFlight) {
                    change.maxInFlight = .some(n)
                } else {
                    throw HeraldError.invalid("--max-in-flight must be a whole number or none, got \(maxInFlight.debugDescription)")
                }
            }
            if let rateLimit { change.rateLimit = rateLimit == "none" ? .some(nil) : .some(try RateLimit(parsing: rateLimit)) }
            if let ordered {
                switch ordered.lowercased() {
                case "on", "true", "yes": change.ordered = true
                case "off", "false", "no": change.ordered = false
                default: throw HeraldError.invalid("--ordered must be on or off, got \(ordered.debugDescription)")
                }
            }
            guard !change.isEmpty else { throw HeraldError.invalid("nothing to set: give --max-in-flight, --rate-limit or --ordered") }
            try change.validate()
            return change
        }

        func validate() throws {
            do { _ = try change() } catch let error as HeraldError { throw ValidationError(error.message) }
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let e = try await EndpointStore(schema: schema).setFlowControl(endpoint, try change(), on: conn)
                if json { return print(try JSONOutput.encode(e)) }
                print("endpoint \(e.id)  \(e.url)")
                print(EndpointsCommand.flowControlLines(e).joined(separator: "\n"))
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
