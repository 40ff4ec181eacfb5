import ArgumentParser
import Foundation
import Herald

/// `herald publish`: one event of an application, fanned out to its subscribed endpoints.
struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish an event to an application's subscribed endpoints; print the message id and deliveries queued.",
        discussion: """
            The payload is stored once and fanned out to every enabled endpoint of the application subscribed to
            the type (and, when the endpoint names channels, to one of --channel). The application is created on
            first use. The payload comes from --data, --data-file, or standard input when neither is given; a
            JSON content type (the default) requires valid JSON. Repeating an --event-id for the application
            queues nothing new and prints the first message's id.

            Examples:
              herald publish --app cust_42 --type invoice.paid --data '{"invoice":42}' --event-id inv_42
              herald publish --app cust_42 --type invoice.paid --data-file event.json --channel billing --json
              generate-event | herald publish --app cust_42 --type order.created

            Output: `message ID  queued N deliveries` (or `duplicate`); --json: message_id, duplicate, queued.
            Exit codes: 0 published, or a repeated event id; 1 database error (nothing written); 64 invalid
            arguments, including what the database refuses (application id, type, channel, payload, headers).
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .customLong("app"), help: "Application id: your id for the customer, e.g. cust_42.")
    var application: String

    @Option(name: .customLong("type"), help: "Event type, e.g. invoice.paid.")
    var eventType: String

    @Option(help: "Payload, inline.")
    var data: String?

    @Option(help: "Payload from this file.")
    var dataFile: String?

    @Option(help: "Your id for the event; a repeat for the same application is not published twice.")
    var eventID: String?

    @Option(name: .customLong("channel"), help: ArgumentHelp("Channel of the message (repeatable, at most 10).", valueName: "channel"))
    var channels: [String] = []

    @Option(name: .customLong("header"), help: ArgumentHelp("Extra header 'Name: value' (repeatable).", valueName: "header"))
    var headers: [String] = []

    @Option(help: "Content-Type of the payload.")
    var contentType: String = "application/json"

    @Option(help: "Largest payload accepted, in bytes (default: database's herald.max_body_bytes, else 1 MiB).")
    var maxBodyBytes: Int?

    @Flag(help: "Print JSON: message_id, duplicate, queued.")
    var json = false

    func validate() throws {
        if data != nil && dataFile != nil { throw ValidationError("give --data or --data-file, not both") }
        if data == nil && dataFile == nil && isatty(STDIN_FILENO) == 1 {
            throw ValidationError("give the payload with --data, --data-file, or on standard input")
        }
        _ = try HeaderArguments.parse(headers)
        if channels.count > 10 { throw ValidationError("a message names at most 10 channels, not \(channels.count)") }
        if let eventID, eventID.isEmpty || eventID.count > 255 { throw ValidationError("--event-id must be 1 to 255 characters") }
        if let maxBodyBytes, !(1...104_857_600).contains(maxBodyBytes) {
            throw ValidationError("--max-body-bytes must be between 1 and 104857600, got \(maxBodyBytes)")
        }
    }

    /// Whether the payload must parse as JSON: `application/json` and `…+json` types.
    var isJSON: Bool {
        let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return type == "application/json" || type.hasSuffix("+json")
    }

    func readPayload() throws -> [UInt8] {
        let bytes: [UInt8]
        if let data {
            bytes = Array(data.utf8)
        } else if let dataFile {
            guard let contents = FileManager.default.contents(atPath: dataFile) else {
                throw HeraldError.invalid("cannot read --data-file \(dataFile.debugDescription): check the path and permissions")
            }
            bytes = Array(contents)
        } else {
            bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        if isJSON, (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) == nil {
            throw HeraldError.invalid("the payload is not valid JSON (content type \(contentType)); fix it or pass --content-type")
        }
        return bytes
    }

    func run() async throws {
        try await CommandRunner.withDatabase(connection) { conn, schema, _ in
            let request = PublishRequest(
                application: application, eventType: eventType, payload: try readPayload(), eventID: eventID, channels: channels,
                headers: try HeaderArguments.parse(headers), contentType: contentType)
            let outcome = try await WebhookQueue(schema: schema, maxBodyBytes: maxBodyBytes).publish(request, on: conn)
            if json { return print(try JSONOutput.encode(outcome)) }
            if outcome.duplicate {
                print("message \(outcome.messageID)  duplicate: event id \((eventID ?? "").debugDescription) was published before; nothing queued")
            } else {
                print("message \(outcome.messageID)  queued \(TextTable.count(outcome.queued, "delivery", "deliveries"))")
                if outcome.queued == 0 {
                    CommandRunner.warn(
                        "no enabled endpoint of application \(application.debugDescription) is subscribed to \(eventType.debugDescription)\(channels.isEmpty ? "" : " on these channels"); `herald endpoints list --app \(application)` shows them")
                }
            }
        }
    }
}
