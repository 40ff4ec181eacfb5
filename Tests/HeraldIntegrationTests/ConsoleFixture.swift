import Foundation
import HeraldTestSupport
import PGDriver

/// The API fixture (applications acme and globex, an admin token, a token per application, `herald serve`)
/// plus what the console shows: a dead delivery of acme with three attempts whose error and response
/// excerpt are hostile HTML, a failed delivery of globex, a disabled endpoint.
struct ConsoleFixture {
    let api: APIFixture
    /// acme's dead delivery and its endpoint.
    let dead: (endpoint: Int64, delivery: Int64)
    /// globex's failed delivery.
    let failed: Int64
    /// A disabled endpoint of globex.
    let disabledEndpoint: Int64

    /// What an endpoint might answer to attack an operator's browser.
    static let hostile = #"<script>alert("owned")</script><img src=x onerror=alert(1)>"#

    static func start() async throws -> ConsoleFixture {
        let api = try await APIFixture.start()
        let schema = api.schema
        let conn = api.connection
        let acme = try await api.seed("acme", token: api.acme)
        try await conn.query(
            """
            UPDATE \(unescaped: schema).deliveries SET state = 'dead', attempts = 3, finished_at = now(), last_status = 503,
                   last_error = \("HTTP 503: " + hostile) WHERE id = \(acme.delivery)
            """)
        for n in 1...3 {
            try await conn.query(
                """
                INSERT INTO \(unescaped: schema).attempts
                    (delivery_id, attempt, worker_id, started_at, duration_ms, status_code, response_excerpt, error, retryable, outcome)
                VALUES (\(acme.delivery), \(n), 'worker-1', now() - make_interval(mins => \(10 - 3 * n)), \(100 * n), 503, \(hostile),
                        \("HTTP 503 " + hostile), true, \(n == 3 ? "dead" : "retry"))
                """)
        }
        let globex = try await api.seed("globex", token: api.globex)
        try await conn.query(
            """
            UPDATE \(unescaped: schema).deliveries SET state = 'failed', attempts = 1, finished_at = now(), last_status = 400,
                   last_error = 'HTTP 400: not retryable' WHERE id = \(globex.delivery)
            """)
        let other = try await api.api.send(
            "POST", "/v1/applications/globex/endpoints", token: api.globex, json: ["url": "https://globex.example/old-hooks"])
        let otherID = (other.json["id"] as? NSNumber)?.int64Value ?? -1
        let disabled = try await api.api.send(
            "POST", "/v1/applications/globex/endpoints/\(otherID)/disable", token: api.globex, json: ["reason": "receiver retired <b>"])
        guard disabled.status == 200 else { throw TestSupportError("disable: \(disabled)") }
        return ConsoleFixture(api: api, dead: (acme.endpoint, acme.delivery), failed: globex.delivery, disabledEndpoint: otherID)
    }

    /// A client signed in with the admin token.
    func signedIn() async throws -> ConsoleClient {
        let client = ConsoleClient(port: api.server.port)
        let answer = try await client.post("/console/login", [("token", api.admin)])
        guard answer.status == 303, client.session != nil else { throw TestSupportError("sign-in: \(answer)") }
        return client
    }

    /// The delivery's state in the database.
    func state(_ id: Int64) async throws -> String? {
        try await api.connection.query("SELECT state FROM \(unescaped: api.schema).deliveries WHERE id = \(id)").first?.decode("state")
    }
}
