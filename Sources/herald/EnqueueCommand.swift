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
            delivery's id and queues nothing new.

            Examples:
              herald enqueue --url https://example.com/hooks --data '{"invoice":42}' --event-type invoice.paid
              herald enqueue --url https://example.com/hooks --data @event.json --event-id evt_123 --header 'X-Tenant: acme'
              generate-event | herald enqueue --url https://example.com/hooks --data -

            Exit codes: 0 queued (id on stdout); 1 refused or database error (reason on stderr, nothing queued);
            64 invalid arguments.
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

    func parsedHeaders() throws -> [String: String] {
        var result: [String: String] = [:]
        for header in headers {
            guard let colon = header.firstIndex(of: ":") else {
                throw ValidationError("invalid --header \(header.prefix(60).debugDescription): use 'Name: value'")
            }
            let name = header[..<colon].trimmingCharacters(in: .whitespaces)
            let value = header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            result[name] = value
        }
        return result
    }

    func validate() throws {
        _ = try parsedHeaders()
        if let maxBodyBytes, !(1...104_857_600).contains(maxBodyBytes) {
            throw ValidationError("--max-body-bytes must be between 1 and 104857600, got \(maxBodyBytes)")
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
            let id = try await WebhookQueue(schema: schema, maxBodyBytes: maxBodyBytes).enqueue(request, on: conn)
            print(id)
        }
    }
}
