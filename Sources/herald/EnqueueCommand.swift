import ArgumentParser
import Foundation
import Herald

/// `herald enqueue`: queues one webhook and prints its delivery id.
struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Queue one webhook and print its delivery id.",
        discussion: """
            --data takes the body inline ('{"a":1}'), from a file (@body.json) or from standard input (-).
            The body is sent byte for byte. Repeating an --event-id for the same URL prints the first
            delivery's id, queues nothing new and says so on stderr. Enqueueing to a disabled endpoint
            queues the delivery (it fails when due unless the endpoint is enabled) and says so on stderr.

            Examples:
              herald enqueue --url https://example.com/hooks --data '{"invoice":42}' --event-type invoice.paid
              herald enqueue --url https://example.com/hooks --data @event.json --event-id evt_123 --header 'X-Tenant: acme'
              generate-event | herald enqueue --url https://example.com/hooks --data -

            Exit codes: 0 queued, or a repeated event id (id on stdout); 1 database error (reason on stderr,
            nothing queued); 64 invalid arguments, including what the database refuses (URL, body, headers).
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Endpoint URL (http or https).")
    var url: String

    @Option(help: "Body: inline text, @file, or - for standard input.")
    var data: String

    @Option(help: "Event type, e.g. invoice.paid.")
    var eventType: String = ""

    @Option(help: "Your id for the event; a repeat for the same URL is not queued twice.")
    var eventID: String?

    @Option(name: .customLong("header"), help: ArgumentHelp("Extra header 'Name: value' (repeatable).", valueName: "header"))
    var headers: [String] = []

    @Option(help: "Content-Type of the body.")
    var contentType: String = "application/json"

    @Option(help: "Attempts for this delivery (1-50; default: endpoint's, else worker's).")
    var maxAttempts: Int?

    @Option(help: "Largest body accepted, in bytes (default: database's herald.max_body_bytes, else 1 MiB).")
    var maxBodyBytes: Int?

    @Flag(help: "Print JSON: id, duplicate, endpoint_id, endpoint_disabled_reason.")
    var json = false

    func parsedHeaders() throws -> [String: String] { try HeaderArguments.parse(headers) }

    func validate() throws {
        if let problem = WebhookURLCheck.problem(url) {
            throw ValidationError("invalid --url \(String(url.prefix(100)).debugDescription): \(problem)")
        }
        _ = try parsedHeaders()
        if let maxAttempts, !(1...50).contains(maxAttempts) {
            throw ValidationError("--max-attempts must be between 1 and 50, got \(maxAttempts)")
        }
        if let maxBodyBytes, !(1...104_857_600).contains(maxBodyBytes) {
            throw ValidationError("--max-body-bytes must be between 1 and 104857600, got \(maxBodyBytes)")
        }
        if let eventID, eventID.isEmpty || eventID.count > 255 {
            throw ValidationError("--event-id must be 1 to 255 characters")
        }
    }

    func readBody() throws -> [UInt8] {
        if data == "-" { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
        if data.hasPrefix("@") {
            let path = String(data.dropFirst())
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw HeraldError.invalid("cannot read --data file \(path.debugDescription): check the path and permissions")
            }
            return Array(contents)
        }
        return Array(data.utf8)
    }

    func run() async throws {
        try await CommandRunner.withDatabase(connection) { conn, schema, _ in
            let request = EnqueueRequest(
                url: url, body: try readBody(), eventType: eventType, eventID: eventID, headers: try parsedHeaders(),
                contentType: contentType, maxAttempts: maxAttempts)
            let outcome = try await WebhookQueue(schema: schema, maxBodyBytes: maxBodyBytes).enqueueWithOutcome(request, on: conn)
            if json { print(try JSONOutput.encode(outcome)) } else { print(outcome.id) }
            // The id stays alone on stdout for scripts; what deserves attention goes to stderr.
            if outcome.duplicate, let eventID {
                CommandRunner.warn("event id \(eventID.debugDescription) was already queued for this URL as delivery \(outcome.id): nothing new queued")
            }
            if let reason = outcome.endpointDisabledReason {
                CommandRunner.warn(
                    "endpoint \(outcome.endpointID) is disabled (\(reason)): delivery \(outcome.id) fails when due unless you run `herald endpoints enable \(outcome.endpointID)` first")
            }
        }
    }
}
