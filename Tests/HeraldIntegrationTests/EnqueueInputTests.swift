import Foundation
import Herald
import HeraldTestSupport
import PGDriver
import Testing

/// Every input `enqueue` takes, through SQL and through `herald enqueue`: refused with the reason and exit
/// 64, nothing written; accepted ones say when they did not queue what the caller may think.
@Suite("Enqueue input")
struct EnqueueInputTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    func herald(_ schema: String, _ arguments: [String], stdin: Data? = nil) async throws -> HeraldBinary.Result {
        try await HeraldBinary.run(arguments + ["--schema", schema], environment: ["DATABASE_URL": pg.url], stdin: stdin)
    }

    /// The SQL function's reason for `url`, or nil when it accepts it.
    func sqlProblem(_ url: String, schema: String, on conn: PGConnection) async throws -> String? {
        try await conn.query("SELECT \(unescaped: schema).webhook_url_problem(\(url)) AS p").first?.decode("p", as: String?.self)
    }

    @Test("the SQL function and the CLI's mirror agree on every URL of the table")
    func sqlAndSwiftAgree() async throws {
        let (schema, conn) = try await pg.migratedSchema("enq")
        for url in WebhookURLCases.accepted {
            #expect(try await sqlProblem(url, schema: schema, on: conn) == nil, "\(url)")
        }
        for (url, reason) in WebhookURLCases.refused {
            let sql = try await sqlProblem(url, schema: schema, on: conn)
            #expect(sql?.contains(reason) == true, "\(url): \(sql ?? "accepted")")
            #expect(sql == WebhookURLCheck.problem(url), "\(url): SQL says \(sql ?? "nil"), Swift says \(WebhookURLCheck.problem(url) ?? "nil")")
        }
        await conn.close()
    }

    @Test("a bad URL is refused by enqueue() (SQL) and by herald enqueue (exit 64); nothing is queued")
    func badURLsRefused() async throws {
        let (schema, conn) = try await pg.migratedSchema("enq")
        for url in ["http://127.0.0.1:99999/x", "http://127.0.0.1:-1/x", "http://127.0.0.1:abc/x", "http://:80/x", "http://[::1/x"] {
            do {
                try await conn.query("SELECT \(unescaped: schema).enqueue(\(url), '\\x7b7d'::bytea)")
                Issue.record("enqueue() accepted \(url)")
            } catch let error as PGError {
                #expect(error.sqlState == "22023", "\(url): \(error)")
                #expect(error.message.contains("invalid webhook URL"), "\(url): \(error)")
            }
            let cli = try await herald(schema, ["enqueue", "--url", url, "--data", "{}"])
            #expect(cli.status == 64, "\(url): \(cli.stderr)")
            #expect(cli.stderr.contains("invalid --url"), "\(url): \(cli.stderr)")
        }
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries") == 0)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).endpoints") == 0)
        await conn.close()
    }

    @Test("the scheme is case-insensitive and stored lower-case: HTTP://a and http://a are one endpoint")
    func schemeCase() async throws {
        let (schema, conn) = try await pg.migratedSchema("enq")
        let upper = try await herald(schema, ["enqueue", "--url", "HTTP://Example.com/h", "--data", "{}"])
        #expect(upper.status == 0, "\(upper.stderr)")
        let lower = try await herald(schema, ["enqueue", "--url", "http://Example.com/h", "--data", "{}"])
        #expect(lower.status == 0, "\(lower.stderr)")
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).endpoints WHERE url = 'http://Example.com/h'") == 1)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).endpoints") == 1)
        await conn.close()
    }

    @Test("invalid arguments exit 64 whoever notices them", arguments: [
        ["--max-attempts", "0"], ["--max-attempts", "51"], ["--max-body-bytes", "0"], ["--header", ": value"],
        ["--header", "X a"], ["--header", "X Y: z"], ["--header", "Host: x"], ["--content-type", "json"],
        ["--event-id", ""], ["--max-body-bytes", "1", "--data", "{\"too\":\"big\"}"],
    ])
    func exitCodes(_ extra: [String]) async throws {
        let (schema, conn) = try await pg.migratedSchema("enq")
        let base = extra.contains("--data") ? ["enqueue", "--url", "https://example.com/h"] : ["enqueue", "--url", "https://example.com/h", "--data", "{}"]
        let result = try await herald(schema, base + extra)
        #expect(result.status == 64, "\(extra): \(result.status) \(result.stderr)")
        #expect(!result.stderr.isEmpty)
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries") == 0)
        await conn.close()
    }

    @Test("a malformed herald.max_body_bytes database setting is named in the error")
    func malformedSetting() async throws {
        let (schema, conn) = try await pg.migratedSchema("enq")
        try await conn.query("SET herald.max_body_bytes = 'lots'")
        do {
            try await conn.query("SELECT \(unescaped: schema).enqueue('https://example.com/h', '\\x7b7d'::bytea)")
            Issue.record("accepted a malformed setting")
        } catch let error as PGError {
            #expect(error.message.contains("herald.max_body_bytes"), "\(error)")
        }
        await conn.close()
    }

    @Test("a repeated event id prints the first id and says nothing new was queued; --json says duplicate")
    func duplicateEventID() async throws {
        let (schema, conn) = try await pg.migratedSchema("enq")
        let args = ["enqueue", "--url", "https://example.com/h", "--data", "{}", "--event-id", "evt-1"]
        let first = try await herald(schema, args)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(!first.stderr.contains("already queued"))
        let second = try await herald(schema, args)
        #expect(second.status == 0)
        #expect(second.stdout == first.stdout, "the first delivery's id")
        #expect(second.stderr.contains("already queued") && second.stderr.contains("nothing new queued"), "\(second.stderr)")
        let json = try await herald(schema, args + ["--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["duplicate"] as? Bool == true)
        #expect(object["id"] as? Int == Int(first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(try await conn.count("SELECT count(*)::int AS n FROM \(unescaped: schema).deliveries") == 1)
        await conn.close()
    }

    @Test("enqueueing to a disabled endpoint queues it and warns, with the reason and what to do")
    func disabledEndpoint() async throws {
        let (schema, conn) = try await pg.migratedSchema("enq")
        #expect(try await herald(schema, ["endpoints", "add", "--url", "https://example.com/off"]).status == 0)
        #expect(try await herald(schema, ["endpoints", "disable", "https://example.com/off", "--reason", "customer asked"]).status == 0)
        let result = try await herald(schema, ["enqueue", "--url", "https://example.com/off", "--data", "{}"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("is disabled (customer asked)"), "\(result.stderr)")
        #expect(result.stderr.contains("herald endpoints enable"), "\(result.stderr)")
        let json = try await herald(schema, ["enqueue", "--url", "https://example.com/off", "--data", "{}", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["endpoint_disabled_reason"] as? String == "customer asked")
        await conn.close()
    }
}
