import ArgumentParser
import Herald

extension EndpointsCommand {
    /// `herald endpoints delete`: remove an endpoint, keeping its deliveries for the audit trail.
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete", abstract: "Delete an endpoint; its deliveries and attempts stay for the audit trail.",
            discussion: """
                The endpoint disappears from `list`, `show` and fan-out, and can never be enabled again; its URL can
                be registered again (a new endpoint, new id, new secret). Its queued deliveries fail when due with
                "endpoint disabled: endpoint deleted", sending nothing. Recorded in endpoint_events (actor: your
                database role) and published as endpoint.deleted to the '_operations' application's endpoints, if any.

                Examples:
                  herald endpoints delete 3
                  herald endpoints delete https://example.com/hooks --app cust_42

                Exit codes: 0 deleted; 1 unknown endpoint (or deleted already) or database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Endpoint id or URL.") var endpoint: String
        @Option(name: .customLong("app"), help: "The application, when the URL is registered in several.") var application: String?

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let e = try await EndpointStore(schema: schema).delete(endpoint, application: application, on: conn)
                print("endpoint \(e.id) deleted (\(e.url)); \(e.pending) queued deliveries fail when due")
            }
        }
    }
}
