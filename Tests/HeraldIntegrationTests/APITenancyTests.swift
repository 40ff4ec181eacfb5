import Foundation
import HeraldTestSupport
import PGDriver
import Testing

/// An application token sees only its application: every route with tenant A's token against tenant
/// B's resources answers 404 (as if they did not exist), and every route without a valid token 401.
@Suite("API tenancy and authentication")
struct APITenancyTests {
    /// Every /v1 route, with tenant `globex`'s resources in its path, query or body.
    static func routes(_ b: (endpoint: Int64, message: Int64, delivery: Int64)) -> [(String, String, Any?)] {
        [
            ("GET", "/v1/applications/globex", nil),
            ("PATCH", "/v1/applications/globex", ["name": "pwned"]),
            ("GET", "/v1/applications/globex/endpoints", nil),
            ("POST", "/v1/applications/globex/endpoints", ["url": "https://evil.example/"]),
            ("GET", "/v1/applications/globex/endpoints/\(b.endpoint)", nil),
            ("GET", "/v1/applications/acme/endpoints/\(b.endpoint)", nil),
            ("PATCH", "/v1/applications/globex/endpoints/\(b.endpoint)", ["description": "pwned"]),
            ("PATCH", "/v1/applications/acme/endpoints/\(b.endpoint)", ["description": "pwned"]),
            ("POST", "/v1/applications/globex/endpoints/\(b.endpoint)/disable", ["reason": "pwned"]),
            ("POST", "/v1/applications/acme/endpoints/\(b.endpoint)/disable", ["reason": "pwned"]),
            ("POST", "/v1/applications/globex/endpoints/\(b.endpoint)/enable", nil),
            ("POST", "/v1/applications/globex/endpoints/\(b.endpoint)/rotate-secret", nil),
            ("POST", "/v1/applications/acme/endpoints/\(b.endpoint)/rotate-secret", nil),
            ("POST", "/v1/applications/globex/endpoints/\(b.endpoint)/test", nil),
            ("POST", "/v1/applications/acme/endpoints/\(b.endpoint)/test", ["eventType": "a.b"]),
            ("GET", "/v1/applications/globex/messages", nil),
            ("POST", "/v1/applications/globex/messages", ["eventType": "a.b", "payload": 1]),
            ("GET", "/v1/applications/globex/messages/\(b.message)", nil),
            ("GET", "/v1/applications/acme/messages/\(b.message)", nil),
            ("GET", "/v1/deliveries?application=globex", nil),
            ("GET", "/v1/deliveries/\(b.delivery)", nil),
            ("POST", "/v1/deliveries/\(b.delivery)/replay", nil),
            ("POST", "/v1/deliveries/\(b.delivery)/cancel", nil),
            ("POST", "/v1/deliveries/\(b.delivery)/retry-now", nil),
            // Admin-only routes do not exist for an application token.
            ("POST", "/v1/applications", ["id": "newco"]),
            ("GET", "/v1/breakers", nil),
            ("POST", "/v1/breakers/endpoint:\(b.endpoint)/reset", nil),
            // Last: the admin walk below deletes B's endpoint, after which its other routes would 404.
            ("DELETE", "/v1/applications/acme/endpoints/\(b.endpoint)", nil),
            ("DELETE", "/v1/applications/globex/endpoints/\(b.endpoint)", nil),
        ]
    }

    /// Routes every valid token may call (on its own scope), for the 401 walk.
    static var ownRoutes: [(String, String, Any?)] {
        [("GET", "/v1/applications", nil), ("GET", "/v1/deliveries", nil), ("GET", "/v1/status", nil)]
    }

    @Test("tenant A's token on tenant B's resources: 404 everywhere, nothing changed; lists show A's rows only")
    func foreignResourcesAreNotFound() async throws {
        let f = try await APIFixture.start()
        let b = try await f.seed("globex", token: f.globex)
        let a = try await f.seed("acme", token: f.acme)
        try await f.connection.query(
            "INSERT INTO \(unescaped: f.schema).circuit_breakers (key, state, open_until) VALUES ('endpoint:\(unescaped: String(b.endpoint))', 'open', now() + interval '1 hour')")
        for (method, path, body) in Self.routes(b) {
            let answer = try await f.api.send(method, path, token: f.acme, json: body)
            #expect(answer.status == 404, "\(method) \(path): \(answer)")
            #expect(answer.json["code"] as? String == "not_found", "\(method) \(path): \(answer)")
        }
        let state = try await f.connection.query("SELECT state FROM \(unescaped: f.schema).deliveries WHERE id = \(b.delivery)").first
        #expect(try state?.decode("state", as: String.self) == "pending", "globex's delivery untouched")
        let name = try await f.connection.query("SELECT name FROM \(unescaped: f.schema).applications WHERE id = 'globex'").first
        #expect(try name?.decode("name", as: String.self) == "globex")
        let endpoint = try await f.connection.query(
            "SELECT enabled, description, previous_secret_expires_at IS NULL AS unrotated, deleted_at IS NULL AS live FROM \(unescaped: f.schema).endpoints WHERE id = \(b.endpoint)").first
        #expect(try endpoint?.decode("enabled", as: Bool.self) == true && endpoint?.decode("description", as: String.self) == "")
        #expect(try endpoint?.decode("live", as: Bool.self) == true, "globex's endpoint not deleted")
        let tests = try await f.connection.query("SELECT count(*)::int AS n FROM \(unescaped: f.schema).deliveries WHERE endpoint_id = \(b.endpoint)").first
        #expect(try tests?.decode("n", as: Int.self) == 1, "no test event queued to globex's endpoint")
        #expect(try endpoint?.decode("unrotated", as: Bool.self) == true, "globex's secret not rotated")
        let breaker = try await f.connection.query(
            "SELECT state FROM \(unescaped: f.schema).circuit_breakers WHERE key = \("endpoint:\(b.endpoint)")").first
        #expect(try breaker?.decode("state", as: String.self) == "open", "breaker not reset")
        // The same routes with the admin token are not 404s: the walk would catch a route that 404s for everyone.
        for (method, path, body) in Self.routes(b) where !path.contains("/applications/acme/") {
            let owner = try await f.api.send(method, path, token: f.admin, json: body)
            #expect(owner.status != 404 && owner.status != 401, "admin \(method) \(path): \(owner)")
        }
        let apps = try await f.api.send("GET", "/v1/applications", token: f.acme)
        #expect((apps.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["acme"], "\(apps)")
        let deliveries = try await f.api.send("GET", "/v1/deliveries", token: f.acme)
        let ids = (deliveries.json["data"] as? [[String: Any]])?.compactMap { ($0["id"] as? NSNumber)?.int64Value }
        #expect(ids == [a.delivery], "\(deliveries)")
    }

    @Test("no token, a malformed one, an unknown one, a revoked one, an expired one: 401 problem+json on every route")
    func unauthenticated() async throws {
        let f = try await APIFixture.start()
        let b = try await f.seed("globex", token: f.globex)
        let revoked = try await HeraldBinary.run(["tokens", "create", "--admin", "--schema", f.schema], environment: ["DATABASE_URL": f.pg.url])
        let revokedToken = revoked.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let revokedID = String(revokedToken.dropFirst(5).prefix { $0 != "_" })
        let revoke = try await HeraldBinary.run(["tokens", "revoke", revokedID, "--schema", f.schema], environment: ["DATABASE_URL": f.pg.url])
        #expect(revoke.status == 0 && revoke.stdout.contains("revoked"), "\(revoke.stderr)")
        let expired = try await HeraldBinary.run(["tokens", "create", "--admin", "--schema", f.schema], environment: ["DATABASE_URL": f.pg.url])
        let expiredToken = expired.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await f.connection.query(
            "UPDATE \(unescaped: f.schema).api_tokens SET expires_at = now() - interval '1 second' WHERE id = \(String(expiredToken.dropFirst(5).prefix { $0 != "_" }))")
        // A right id with a wrong secret: the hash comparison, not the lookup, refuses it.
        let forged = String(f.admin.prefix { $0 != "_" }) + "_" + String(f.admin.dropFirst(5).prefix { $0 != "_" }) + "_" + String(repeating: "a", count: 52)
        let tokens: [String?] = [nil, "not-a-token", "hrld_zzzzzzzzzzzz_" + String(repeating: "b", count: 52), forged, revokedToken, expiredToken]
        for token in tokens {
            for (method, path, body) in Self.routes(b) + Self.ownRoutes {
                let answer = try await f.api.send(method, path, token: token, json: body)
                #expect(answer.status == 401, "\(token ?? "no token") \(method) \(path): \(answer)")
                #expect(answer.headers["content-type"] == "application/problem+json" && answer.json["code"] as? String == "unauthorized", "\(answer)")
            }
        }
        let list = try await HeraldBinary.run(["tokens", "list", "--json", "--schema", f.schema], environment: ["DATABASE_URL": f.pg.url])
        #expect(list.status == 0 && !list.stdout.contains(f.admin) && list.stdout.contains("revoked_at"), "\(list.stdout)")
    }

    @Test("failed authentications are rate-limited per address: 429 with Retry-After, valid tokens wait too")
    func rateLimited() async throws {
        let f = try await APIFixture.start(["--auth-failures-per-minute", "3"])
        for i in 0..<3 {
            #expect(try await f.api.send("GET", "/v1/status", token: "hrld_wrong").status == 401, "failure \(i)")
        }
        let limited = try await f.api.send("GET", "/v1/status", token: "hrld_wrong")
        #expect(limited.status == 429 && limited.json["code"] as? String == "rate_limited", "\(limited)")
        let retryAfter = Int(limited.headers["retry-after"] ?? "") ?? 0
        #expect((1...60).contains(retryAfter), "\(limited.headers)")
        #expect(try await f.api.send("GET", "/v1/status", token: f.admin).status == 429)
        #expect(try await f.api.send("GET", "/healthz").status == 200, "probes are not behind authentication")
    }
}
