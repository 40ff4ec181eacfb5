import ArgumentParser
import Herald

extension DeliveriesCommand {
    /// `herald deliveries retry-now`: waiting pending deliveries due at once, attempts kept.
    struct RetryNow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "retry-now", abstract: "Make waiting pending deliveries due now, keeping their attempt count.",
            discussion: """
                For an endpoint that is back: its deliveries waiting out a backoff are sent at the next lease
                instead of hours later. Unlike `replay`, the attempt budget is not reset. Deliveries being sent by
                a worker right now are skipped (and listed); given ids that ended or are already due are listed
                as skipped, with why. Idle workers are woken.

                Examples:
                  herald deliveries retry-now 42 43
                  herald deliveries retry-now --endpoint https://example.com/hooks --app cust_42
                  herald deliveries retry-now --app cust_42 --json

                Exit codes: 0 done (even if some ids were skipped); 1 an id is unknown, or database error;
                64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var filter: FilterOptions
        @Argument(help: "Delivery ids (or use --endpoint/--app).") var ids: [Int64] = []
        @Flag(help: "Print JSON: changed, not_found, skipped (id, state, reason).") var json = false

        func validate() throws {
            if ids.isEmpty && filter.endpoint == nil && filter.application == nil {
                throw ValidationError("give delivery ids, or --endpoint/--app to retry that endpoint's or application's waiting deliveries now")
            }
            try filter.requireStates(in: [.pending], for: "retry-now")
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let report = try await DeliveryAdminStore(schema: schema).retryNow(
                    ids: ids.isEmpty ? nil : ids, filter: try await filter.resolved(on: conn, schema: schema), on: conn)
                try DeliveriesCommand.printReport(report, verb: "made due now", json: json)
            }
        }
    }
}
