import Foundation
import HeraldTestSupport
import PGDriver
import Testing

/// The operator console (`/console`) over real HTTP against a real `herald serve`: sign-in, the pages with
/// seeded data, escaping, the buttons and the cross-site request guards.
@Suite("Console routes")
struct ConsoleRoutesTests {
    @Test("signing in: an admin token gets an HttpOnly SameSite=Strict cookie for /console; bad and application tokens are refused")
    func signIn() async throws {
        let f = try await ConsoleFixture.start()
        let client = ConsoleClient(port: f.api.server.port)
        let unsigned = try await client.get("/console/")
        #expect(unsigned.status == 303 && unsigned.headers["location"] == "/console/login", "\(unsigned)")
        let form = try await client.get("/console/login")
        #expect(form.status == 200 && form.text.contains("name=\"token\""), "\(form)")
        #expect(form.headers["content-security-policy"]?.contains("default-src 'none'") == true, "\(form.headers)")

        let wrong = try await client.post("/console/login", [("token", "hrld_aaaaaaaaaaaa_" + String(repeating: "b", count: 52))])
        #expect(wrong.status == 401 && wrong.text.contains("unknown, revoked or expired") && client.session == nil, "\(wrong)")
        let app = try await client.post("/console/login", [("token", f.api.acme)])
        #expect(app.status == 403 && app.text.contains("application token") && app.text.contains("admin tokens only"), "\(app)")
        #expect(client.session == nil, "an application token starts no session")

        let admin = try await client.post("/console/login", [("token", f.api.admin)])
        #expect(admin.status == 303 && admin.headers["location"] == "/console/", "\(admin)")
        let cookie = admin.headers["set-cookie"] ?? ""
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=43200"] {
            #expect(cookie.contains(attribute), "\(attribute) in \(cookie)")
        }
        #expect(try await client.get("/console/").status == 200)
        // The cookie is no credential for the API, which takes bearer tokens only.
        let api = try await f.api.api.send("GET", "/v1/status", headers: ["Cookie": "herald_console=\(f.api.admin)"])
        #expect(api.status == 401, "\(api)")

        let token = try await client.formToken()
        let out = try await client.post("/console/logout", [("csrf", token)])
        #expect(out.status == 303 && out.headers["location"] == "/console/login?why=signedout" && client.session == nil, "\(out)")
        #expect(try await client.get("/console/").status == 303)
    }

    @Test("sign-in failures count against the API's per-address limit: 429 with Retry-After")
    func signInRateLimited() async throws {
        let f = try await APIFixture.start(["--auth-failures-per-minute", "3"])
        let client = ConsoleClient(port: f.server.port)
        for _ in 0..<3 { #expect(try await client.post("/console/login", [("token", "not a token")]).status == 401) }
        let limited = try await client.post("/console/login", [("token", f.admin)])
        #expect(limited.status == 429 && limited.headers["retry-after"] != nil && limited.text.contains("Too many failed sign-ins"), "\(limited)")
        #expect(try await f.api.send("GET", "/v1/status", token: f.admin).status == 429, "the API's bearer check shares the count")
    }

    @Test("the pages render the seeded data: dead letters, filters, pagination, a timeline, endpoint health")
    func pagesRender() async throws {
        let f = try await ConsoleFixture.start()
        let client = try await f.signedIn()
        let list = try await client.get("/console/")
        #expect(list.status == 200, "\(list)")
        #expect(list.text.contains("id=\"delivery-\(f.dead.delivery)\"") && list.text.contains("id=\"delivery-\(f.failed)\""), "\(list)")
        #expect(list.text.contains("/console/deliveries/\(f.dead.delivery)/replay"), "a dead delivery has a replay button")
        #expect(list.headers["cache-control"] == "no-store" && list.headers["x-frame-options"] == "DENY", "\(list.headers)")

        let acmeOnly = try await client.get("/console/?app=acme")
        #expect(acmeOnly.text.contains("delivery-\(f.dead.delivery)") && !acmeOnly.text.contains("delivery-\(f.failed)\""), "\(acmeOnly)")
        let failedOnly = try await client.get("/console/?state=failed")
        #expect(!failedOnly.text.contains("delivery-\(f.dead.delivery)\"") && failedOnly.text.contains("delivery-\(f.failed)\""))
        let byEndpoint = try await client.get("/console/?endpoint=\(f.dead.endpoint)")
        #expect(byEndpoint.text.contains("delivery-\(f.dead.delivery)\"") && !byEndpoint.text.contains("delivery-\(f.failed)\""))
        let future = try await client.get("/console/?from=2999-01-01T00%3A00")
        #expect(future.text.contains("No deliveries match"), "a time range after everything lists nothing")
        let past = try await client.get("/console/?until=2000-01-01T00%3A00")
        #expect(past.text.contains("No deliveries match"))
        let badDate = try await client.get("/console/?from=yesterday")
        #expect(badDate.status == 200 && badDate.text.contains("must look like"), "\(badDate)")

        // 51 more dead deliveries: the first page holds 50 and links to the older ones.
        try await f.api.connection.query(
            """
            INSERT INTO \(unescaped: f.api.schema).deliveries (endpoint_id, event_type, body, idempotency_key, state, finished_at, breaker_key)
            SELECT \(f.dead.endpoint), 'bulk.test', '\\x7b7d'::bytea, 'bulk-' || n, 'dead', now(), 'endpoint:' || \(f.dead.endpoint)::text
            FROM generate_series(1, 51) n
            """)
        let first = try await client.get("/console/?app=acme")
        #expect(first.text.matches(of: /<tr id="delivery-/).count == 50, "50 a page")
        let older = try #require(first.text.firstMatch(of: /href="(\/console\/\?[^"]*before=\d+)"/).map { String($0.output.1) })
        let second = try await client.get(older.replacingOccurrences(of: "&amp;", with: "&"))
        #expect(second.text.matches(of: /<tr id="delivery-/).count == 2 && second.text.contains("delivery-\(f.dead.delivery)\""), "\(second)")

        let timeline = try await client.get("/console/deliveries/\(f.dead.delivery)")
        #expect(timeline.status == 200, "\(timeline)")
        for text in ["attempt 1", "attempt 3", "HTTP 503", "300 ms", "worker-1", "enqueued", "invoice.paid"] {
            #expect(timeline.text.contains(text), "\(text) in the timeline")
        }
        #expect(try await client.get("/console/deliveries/99999999").status == 404)

        let health = try await client.get("/console/endpoints")
        #expect(health.status == 200, "\(health)")
        #expect(health.text.contains("id=\"endpoint-\(f.dead.endpoint)\"") && health.text.contains("https://acme.example/hooks"), "\(health)")
        #expect(health.text.contains("/console/endpoints/\(f.disabledEndpoint)/enable"), "the disabled endpoint has an enable button")
        #expect(health.text.contains("Attempts 1 h") && health.text.contains("p95"), "\(health)")
    }

    @Test("hostile values from endpoints are HTML-escaped on every page")
    func escaping() async throws {
        let f = try await ConsoleFixture.start()
        let client = try await f.signedIn()
        for path in ["/console/", "/console/deliveries/\(f.dead.delivery)", "/console/endpoints"] {
            let page = try await client.get(path)
            #expect(page.status == 200, "\(path): \(page)")
            #expect(!page.text.contains("<script"), "\(path) carries no script element")
            #expect(!page.text.contains("<img"), "\(path) carries no injected element")
            #expect(!page.text.contains("<b>"), "\(path)")
        }
        let timeline = try await client.get("/console/deliveries/\(f.dead.delivery)")
        #expect(timeline.text.contains("&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;"), "shown, escaped")
        let health = try await client.get("/console/endpoints")
        #expect(health.text.contains("receiver retired &lt;b&gt;"), "\(health)")
        // The query is echoed into the filter form escaped, too.
        let echoed = try await client.get("/console/?endpoint=%22%3E%3Cscript%3Ex%3C%2Fscript%3E")
        #expect(!echoed.text.contains("<script") && echoed.text.contains("&quot;&gt;&lt;script&gt;"), "\(echoed)")
    }

    @Test("replay, retry-now and enable change the database through the stores, and come back with a notice")
    func buttons() async throws {
        let f = try await ConsoleFixture.start()
        let client = try await f.signedIn()
        let token = try await client.formToken()
        let replay = try await client.post("/console/deliveries/\(f.dead.delivery)/replay", [("csrf", token), ("return", "/console/?app=acme")])
        #expect(replay.status == 303 && replay.headers["location"] == "/console/?app=acme&notice=replayed.\(f.dead.delivery)", "\(replay)")
        #expect(try await f.state(f.dead.delivery) == "pending")
        let events = try await f.api.connection.query(
            "SELECT what FROM \(unescaped: f.api.schema).delivery_events WHERE delivery_id = \(f.dead.delivery)").rows.map { try $0.decode("what", as: String.self) }
        #expect(events == ["replayed"], "recorded as the CLI's and API's replay is")
        let notice = try await client.get(replay.headers["location"] ?? "")
        #expect(notice.text.contains("Delivery \(f.dead.delivery) replayed"), "\(notice)")
        let again = try await client.post("/console/deliveries/\(f.dead.delivery)/replay", [("csrf", token)])
        #expect(again.headers["location"] == "/console/?notice=unchanged.\(f.dead.delivery)", "\(again)")

        try await f.api.connection.query(
            "UPDATE \(unescaped: f.api.schema).deliveries SET next_attempt_at = now() + interval '1 hour' WHERE id = \(f.dead.delivery)")
        let retry = try await client.post(
            "/console/deliveries/\(f.dead.delivery)/retry-now", [("csrf", token), ("return", "/console/deliveries/\(f.dead.delivery)")])
        #expect(retry.headers["location"] == "/console/deliveries/\(f.dead.delivery)?notice=retried.\(f.dead.delivery)", "\(retry)")
        let due = try await f.api.connection.query(
            "SELECT next_attempt_at <= now() AS due FROM \(unescaped: f.api.schema).deliveries WHERE id = \(f.dead.delivery)").first?.decode("due", as: Bool.self)
        #expect(due == true)

        let enable = try await client.post("/console/endpoints/\(f.disabledEndpoint)/enable", [("csrf", token), ("return", "/console/endpoints")])
        #expect(enable.headers["location"] == "/console/endpoints?notice=enabled.\(f.disabledEndpoint)", "\(enable)")
        let enabled = try await f.api.connection.query(
            "SELECT enabled FROM \(unescaped: f.api.schema).endpoints WHERE id = \(f.disabledEndpoint)").first?.decode("enabled", as: Bool.self)
        #expect(enabled == true)

        let offsite = try await client.post("/console/deliveries/\(f.failed)/replay", [("csrf", token), ("return", "https://evil.example/")])
        #expect(offsite.headers["location"] == "/console/?notice=replayed.\(f.failed)", "no redirect off the console: \(offsite)")
        let missing = try await client.post("/console/deliveries/99999999/replay", [("csrf", token)])
        #expect(missing.status == 404, "\(missing)")
    }

    @Test("cross-site requests are refused: no form token, a wrong one, a foreign Origin; nothing changes")
    func csrf() async throws {
        let f = try await ConsoleFixture.start()
        let client = try await f.signedIn()
        let token = try await client.formToken()
        let path = "/console/deliveries/\(f.dead.delivery)/replay"
        let none = try await client.post(path, [])
        #expect(none.status == 403 && none.text.contains("Nothing was changed"), "\(none)")
        let wrong = try await client.post(path, [("csrf", String(repeating: "0", count: 64))])
        #expect(wrong.status == 403, "\(wrong)")
        let foreign = try await client.post(path, [("csrf", token)], origin: "https://evil.example")
        #expect(foreign.status == 403 && foreign.text.contains("another site"), "\(foreign)")
        let nullOrigin = try await client.post(path, [("csrf", token)], origin: "null")
        #expect(nullOrigin.status == 403, "\(nullOrigin)")
        #expect(try await f.state(f.dead.delivery) == "dead", "nothing changed")
        let foreignLogin = try await ConsoleClient(port: f.api.server.port).post("/console/login", [("token", f.api.admin)], origin: "https://evil.example")
        #expect(foreignLogin.status == 403, "\(foreignLogin)")

        // Another admin's session has another form token.
        let made = try await HeraldBinary.run(
            ["tokens", "create", "--schema", f.api.schema, "--admin", "--name", "other"], environment: ["DATABASE_URL": f.api.pg.url])
        let other = ConsoleClient(port: f.api.server.port)
        _ = try await other.post("/console/login", [("token", made.stdout.trimmingCharacters(in: .whitespacesAndNewlines))])
        #expect(try await other.post(path, [("csrf", token)]).status == 403, "a form token is bound to its session")
        #expect(try await f.state(f.dead.delivery) == "dead")
    }

    @Test("a revoked token's session ends at its next request")
    func revokedSessionEnds() async throws {
        let f = try await ConsoleFixture.start()
        let client = try await f.signedIn()
        #expect(try await client.get("/console/").status == 200)
        let id = String(f.api.admin.split(separator: "_")[1])
        let revoked = try await HeraldBinary.run(["tokens", "revoke", id, "--schema", f.api.schema], environment: ["DATABASE_URL": f.api.pg.url])
        #expect(revoked.status == 0, "\(revoked.stderr)")
        let after = try await client.get("/console/")
        #expect(after.status == 303 && after.headers["location"] == "/console/login?why=ended", "\(after)")
    }
}
