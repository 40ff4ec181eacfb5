import ArgumentParser
import Foundation
import Herald

extension EndpointsCommand {
    /// `herald endpoints disable`: stop sending to an endpoint, recorded as an endpoint event.
    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "disable", abstract: "Stop sending to an endpoint; its due deliveries fail with the reason.",
            discussion: """
                Recorded in endpoint_events (actor: your database role) and published as endpoint.disabled to the
                '_operations' application's endpoints, if any.

                Examples:
                  herald endpoints disable 3 --reason "customer asked us to stop"
                  herald endpoints disable https://example.com/hooks --app cust_42 --reason "maintenance"

                Exit codes: 0 disabled (or already was); 1 unknown endpoint or database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Endpoint id or URL.") var endpoint: String
        @Option(name: .customLong("app"), help: "The application, when the URL is registered in several.") var application: String?
        @Option(help: "Why (stored and shown on its failed deliveries).") var reason: String

        func validate() throws {
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty, reason.count <= 500 else {
                throw ValidationError("--reason must be 1 to 500 characters")
            }
        }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let (e, changed) = try await EndpointStore(schema: schema).setEnabled(
                    endpoint, application: application, enabled: false, reason: reason, on: conn)
                print(changed ? "endpoint \(e.id) disabled" : "endpoint \(e.id) was already disabled (\(e.disabledReason ?? "")): nothing changed")
            }
        }
    }

    /// `herald endpoints enable`: send to an endpoint again, and optionally replay what failed meanwhile.
    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "enable", abstract: "Send to an endpoint again; --replay-since also replays what failed meanwhile.",
            discussion: """
                Recorded in endpoint_events (actor: your database role) and published as endpoint.enabled to the
                '_operations' application's endpoints, if any. --replay-since T (an RFC 3339 time, or a duration
                meaning that long ago) then replays the endpoint's failed and dead deliveries that ended since T,
                exactly as `herald deliveries replay` does (fresh budget, same payload and key, audited).

                Examples:
                  herald endpoints enable 3
                  herald endpoints enable 3 --replay-since 2h
                  herald endpoints enable https://example.com/hooks --app cust_42 --replay-since 2026-12-03T06:00:00Z

                Exit codes: 0 enabled (or already was); 1 unknown endpoint or database error; 64 invalid arguments.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Endpoint id or URL.") var endpoint: String
        @Option(name: .customLong("app"), help: "The application, when the URL is registered in several.") var application: String?
        @Option(help: "Also replay failed and dead deliveries that ended since then: RFC 3339 time, or a duration ago (2h).")
        var replaySince: String?
        @Flag(help: "Print JSON: endpoint_id, changed, replayed, skipped.") var json = false

        func since() throws -> PointInTime? {
            do { return try replaySince.map { try PointInTime.parse($0, name: "--replay-since") } } catch let e as HeraldError {
                throw ValidationError(e.message)
            }
        }

        func validate() throws { _ = try since() }

        func run() async throws {
            try await CommandRunner.withDatabase(connection) { conn, schema, _ in
                let (e, changed) = try await EndpointStore(schema: schema).setEnabled(
                    endpoint, application: application, enabled: true, reason: nil, on: conn)
                var report: DeliveryAdminStore.ChangeReport?
                if let since = try since() {
                    report = try await DeliveryAdminStore(schema: schema).replay(
                        ids: nil, filter: DeliveryAdminStore.Filter(states: [.failed, .dead], endpoint: String(e.id), finishedSince: since), on: conn)
                }
                if json {
                    struct Enabled: Encodable {
                        var endpointID: Int64
                        var changed: Bool
                        var replayed: [Int64]?
                        var skipped: [DeliveryAdminStore.ChangeReport.Skipped]?
                    }
                    return print(try JSONOutput.encode(Enabled(endpointID: e.id, changed: changed, replayed: report?.changed, skipped: report?.skipped)))
                }
                print(changed ? "endpoint \(e.id) enabled" : "endpoint \(e.id) was already enabled")
                if let report {
                    print("replayed \(TextTable.count(report.changed.count, "delivery", "deliveries")) that failed since \(replaySince ?? "")")
                    for skipped in report.skipped { print("skipped \(skipped.id): \(skipped.reason)") }
                }
            }
        }
    }
}
