import ArgumentParser
import Herald

extension EndpointsCommand {
    /// `herald endpoints test`: queue one test event to one endpoint, to check a receiver end to end.
    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "test", abstract: "Queue one test event to an endpoint only, whatever its subscriptions.",
            discussion: """
                A message of the endpoint's application (payload {"type", "timestamp", "data": {"test": true,
                "endpointId"}}) with one delivery, signed and sent by the workers like any other; follow it with
                `herald deliveries show ID`. A disabled endpoint is refused: the delivery would fail unsent.

                Examples:
                  herald endpoints test 3
                  herald endpoints test https://example.com/hooks --app cust_42 --type invoice.paid --json

                Exit codes: 0 queued; 1 unknown endpoint or database error; 64 invalid arguments (an invalid --type or a
                disabled endpoint included).
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Endpoint id or URL.") var endpoint: String
        @Option(name: .customLong("app"), help: "The application, when the URL is registered in several.") var application: String?
        @Option(help: "Event type of the test event.") var type: String = EndpointStore.testEventType
        @Flag(help: "Print JSON: endpoint_id, message_id, delivery_id.") var json = false

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let queued = try await EndpointStore(schema: schema).sendTest(endpoint, application: application, eventType: type, on: conn)
                if json { return print(try JSONOutput.encode(queued)) }
                print("test event queued to endpoint \(queued.endpointID): message \(queued.messageID), delivery \(queued.deliveryID)")
            }
        }
    }
}
