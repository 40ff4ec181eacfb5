import Foundation
import HeraldTestSupport
import PGDriver

/// A migrated schema with two applications (tenants `acme` and `globex`), an admin token, a token of each
/// tenant made by `herald tokens create`, and a `herald serve` on it.
struct APIFixture {
    let pg: TestPostgres
    let schema: String
    let connection: PGConnection
    let server: ServeProcess
    let admin: String
    let acme: String
    let globex: String
    var api: APIClient { server.client }

    static func start(_ serveFlags: [String] = ["--auth-failures-per-minute", "100000"]) async throws -> APIFixture {
        let pg = try await TestPostgres.shared()
        let (schema, connection) = try await pg.migratedSchema("api")
        for app in ["acme", "globex"] {
            let added = try await HeraldBinary.run(["applications", "add", app, "--schema", schema], environment: ["DATABASE_URL": pg.url])
            guard added.status == 0 else { throw TestSupportError("applications add: \(added.stderr)") }
        }
        func token(_ scope: [String]) async throws -> String {
            let made = try await HeraldBinary.run(["tokens", "create", "--schema", schema] + scope, environment: ["DATABASE_URL": pg.url])
            guard made.status == 0 else { throw TestSupportError("tokens create: \(made.stderr)") }
            return made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let admin = try await token(["--admin", "--name", "ops"])
        let acme = try await token(["--app", "acme"])
        let globex = try await token(["--app", "globex"])
        let server = try await ServeProcess(pg, schema: schema, serveFlags)
        return APIFixture(pg: pg, schema: schema, connection: connection, server: server, admin: admin, acme: acme, globex: globex)
    }

    /// Registers an endpoint of `app` and publishes one message to it; returns (endpoint, message, delivery) ids.
    func seed(_ app: String, token: String) async throws -> (endpoint: Int64, message: Int64, delivery: Int64) {
        let endpoint = try await api.send("POST", "/v1/applications/\(app)/endpoints", token: token, json: ["url": "https://\(app).example/hooks"])
        guard endpoint.status == 201 else { throw TestSupportError("endpoint: \(endpoint)") }
        let published = try await api.send(
            "POST", "/v1/applications/\(app)/messages", token: token, json: ["eventType": "invoice.paid", "payload": ["n": 1]],
            headers: ["Idempotency-Key": "evt_\(UUID().uuidString)"])
        guard published.status == 202 else { throw TestSupportError("publish: \(published)") }
        let messageID = (published.json["messageId"] as? NSNumber)?.int64Value ?? -1
        let delivery = try await connection.query(
            "SELECT id FROM \(unescaped: schema).deliveries WHERE message_id = \(messageID)").first?.decode("id", as: Int64.self) ?? -1
        return ((endpoint.json["id"] as? NSNumber)?.int64Value ?? -1, messageID, delivery)
    }
}
