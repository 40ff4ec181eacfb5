import Foundation
import HeraldTestSupport
import Logging
import PGDriver
import Synchronization
import Testing

@Suite("PGConnection against a real PostgreSQL")
struct PGConnectionTests {
    @Test("parameters and NULLs round-trip with their types")
    func roundTrip() async throws {
        let conn = try await TestPostgres.shared().connect()
        let bytes: [UInt8] = Array(0...255) + [0, 0, 92, 120]
        let when = Date(timeIntervalSince1970: 1_790_000_000.123456)
        let json = PGJSON(text: #"{"a": [1, "x\"y"]}"#)
        let nothing: String? = nil
        let text = "it's \"quoted\"; DROP TABLE x; -- ünïcødé"
        let row = try #require(
            try await conn.query(
                """
                SELECT \(text)::text AS t, \(Int64.max)::bigint AS big, \(Int32(-7))::int AS small, \(true)::bool AS yes,
                       \(bytes)::bytea AS raw, \(when)::timestamptz AS ts, \(json)::jsonb AS doc, \(nothing)::text AS missing,
                       \(2.5)::float8 AS half
                """
            ).first)
        #expect(try row.decode("t", as: String.self) == text)
        #expect(try row.decode("big", as: Int64.self) == Int64.max)
        #expect(try row.decode("small", as: Int32.self) == -7)
        #expect(try row.decode("yes", as: Bool.self) == true)
        #expect(try row.decode("raw", as: [UInt8].self) == bytes)
        let ts = try row.decode("ts", as: Date.self)
        #expect(abs(ts.timeIntervalSince1970 - when.timeIntervalSince1970) < 0.000_001)
        #expect(try row.decode("doc", as: PGJSON.self).decode([String: [JSONValue]].self)["a"] == [.int(1), .string("x\"y")])
        #expect(try row.decode("missing", as: String?.self) == nil)
        #expect(try row.decode("half", as: Double.self) == 2.5)
        #expect(throws: PGError.self) { try row.decode("missing", as: String.self) }
        await conn.close()
    }

    @Test("a unique violation carries SQLSTATE 23505 and the constraint name")
    func uniqueViolation() async throws {
        let conn = try await TestPostgres.shared().connect()
        try await conn.query("CREATE TEMP TABLE u (id int CONSTRAINT u_pk PRIMARY KEY)")
        try await conn.query("INSERT INTO u VALUES (\(1))")
        let error = try await #require(throws: PGError.self) { try await conn.query("INSERT INTO u VALUES (\(1))") }
        #expect(error.code == .server)
        #expect(error.sqlState == "23505")
        #expect(error.isUniqueViolation)
        #expect(error.constraint == "u_pk")
        // The connection is still usable after a statement error.
        #expect(try await conn.query("SELECT 1 AS one").first?.decode("one", as: Int.self) == 1)
        await conn.close()
    }

    @Test("withTransaction commits on success and rolls back on throw")
    func transactions() async throws {
        let conn = try await TestPostgres.shared().connect()
        try await conn.query("CREATE TEMP TABLE tx (v int)")
        try await conn.withTransaction { try await $0.query("INSERT INTO tx VALUES (\(1))") }
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await conn.withTransaction { c in
                try await c.query("INSERT INTO tx VALUES (\(2))")
                throw Boom()
            }
        }
        let values = try await conn.query("SELECT v FROM tx ORDER BY v").rows.map { try $0.decode("v", as: Int.self) }
        #expect(values == [1])
        #expect(try await conn.transactionStatus() == .idle)
        await conn.close()
    }

    @Test("BEGIN with the first statement, and the last statement with COMMIT, each in one round trip")
    func pipelinedTransaction() async throws {
        let conn = try await TestPostgres.shared().connect()
        try await conn.query("CREATE TEMP TABLE pt (v int)")
        let got = try await conn.withTransaction(startingWith: "SELECT txid_current_if_assigned() IS NULL AS fresh") { c, first in
            #expect(try first.first?.decode("fresh", as: Bool.self) == true)
            return try await c.commit(with: "INSERT INTO pt VALUES (\(5)) RETURNING v").first?.decode("v", as: Int.self)
        }
        #expect(got == 5)
        #expect(try await conn.query("SELECT count(*)::int AS n FROM pt").first?.decode("n", as: Int.self) == 1)
        // A failing statement inside a pipeline skips the rest and leaves the session usable.
        await #expect(throws: PGError.self) { try await conn.pipeline(["SELECT 1/0", "SELECT 1"]) }
        #expect(try await conn.query("SELECT 2 AS two").first?.decode("two", as: Int.self) == 2)
        await conn.close()
    }

    @Test("cancelling the task cancels a running pg_sleep and leaves the connection usable")
    func cancellation() async throws {
        let pg = try await TestPostgres.shared()
        let conn = try await pg.connect()
        let observer = try await pg.connect()
        let pid = conn.backendPID
        let sleeper = Task { try await conn.query("SELECT pg_sleep(60)") }
        try await Wait.until("pg_sleep to be running") {
            try await observer.query(
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = \(pid) AND state = 'active' AND query LIKE '%pg_sleep%'"
            ).first?.decode("n", as: Int.self) == 1
        }
        sleeper.cancel()
        let outcome = await sleeper.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(try await conn.query("SELECT 3 AS three").first?.decode("three", as: Int.self) == 3)
        await conn.close()
        await observer.close()
    }

    @Test("a terminated backend is reported as a lost connection")
    func terminatedBackend() async throws {
        let pg = try await TestPostgres.shared()
        let victim = try await pg.connect()
        let killer = try await pg.connect()
        try await killer.query("SELECT pg_terminate_backend(\(victim.backendPID))")
        let error = try await #require(throws: PGError.self) { try await victim.query("SELECT 1") }
        #expect(error.code == .connectionLost)
        #expect(error.isConnectionProblem)
        #expect(victim.isClosed)
        await victim.close()
        await killer.close()
    }

    @Test("LISTEN/NOTIFY delivers a notification sent at commit")
    func listenNotify() async throws {
        let pg = try await TestPostgres.shared()
        let listener = try await pg.connect()
        let sender = try await pg.connect()
        try await listener.listen("herald test channel")
        try await sender.withTransaction { try await $0.notify("herald test channel", payload: "hello") }
        var received: [PGNotification] = []
        try await Wait.until("the notification") {
            received += try await listener.waitForNotifications(timeout: .milliseconds(200))
            return !received.isEmpty
        }
        #expect(received.first?.channel == "herald test channel")
        #expect(received.first?.payload == "hello")
        #expect(received.first?.senderPID == sender.backendPID)
        // A wait with nothing to receive ends at its timeout, and cancellation ends it early.
        #expect(try await listener.waitForNotifications(timeout: .milliseconds(20)).isEmpty)
        let waiter = Task { try await listener.waitForNotifications(timeout: .seconds(60)) }
        waiter.cancel()
        let waited = await waiter.result
        #expect(throws: CancellationError.self) { try waited.get() }
        await listener.close()
        await sender.close()
    }

    @Test("NOTICE and WARNING messages go to the logger, not stderr")
    func noticesAreLogged() async throws {
        let pg = try await TestPostgres.shared()
        let captured = CapturedLogs()
        let logger = Logger(label: "test") { _ in CapturingLogHandler(store: captured) }
        let conn = try await PGConnection.connect(pg.url, logger: logger)
        try await conn.query("DO $$ BEGIN RAISE WARNING 'careful: %', 42; END $$")
        #expect(captured.messages.contains { $0.level == .warning && $0.message == "careful: 42" })
        await conn.close()
    }

    @Test("a statement that reuses its plan is prepared once per connection, in plain and pipelined calls")
    func preparedOnce() async throws {
        let conn = try await TestPostgres.shared().connect()
        let table = "prep_\(UInt32.random(in: 0...UInt32.max))"
        try await conn.query("CREATE TABLE \(unescaped: table) (id int PRIMARY KEY, name text)")
        try await conn.query("INSERT INTO \(unescaped: table) VALUES (1, 'a'), (2, 'b')")
        func select(_ id: Int32) -> PGQuery { PGQuery("SELECT * FROM \(unescaped: table) WHERE id = \(id)").reusingPlan() }
        #expect(try await conn.query(select(1)).first?.decode("name", as: String.self) == "a")
        #expect(try await conn.query(select(2)).first?.decode("name", as: String.self) == "b")
        let piped = try await conn.pipeline(["BEGIN", select(1), "COMMIT"])
        #expect(try piped[1].first?.decode("name", as: String.self) == "a")
        let statements = "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement LIKE '%\(table)%'"
        #expect(try await conn.query(PGQuery(stringLiteral: statements)).first?.decode("n", as: Int.self) == 1)
        // The table changes shape under the cached plan: the server may refuse that plan once, after
        // which the statement is prepared afresh and sees the new column.
        try await conn.query("ALTER TABLE \(unescaped: table) ADD COLUMN extra int DEFAULT 7")
        var after = try? await conn.query(select(1))
        if after == nil { after = try await conn.query(select(1)) }
        let row = try #require(after?.first)
        #expect(try row.decode("extra", as: Int.self) == 7)
        #expect(try await conn.query(select(2)).first?.decode("extra", as: Int.self) == 7)
        await conn.close()
    }

    @Test("a wrong password fails with a clear error that does not contain the password")
    func wrongPassword() async throws {
        let pg = try await TestPostgres.shared()
        _ = try await pg.passwordRole()
        guard var components = URLComponents(string: pg.url) else { throw TestSupportError("bad test URL") }
        components.user = "pw_user"
        components.password = "wr0ng-S3cret-value"
        let error = try await #require(throws: PGError.self) {
            try await PGConnection.connect(components.string!)
        }
        #expect(error.code == .connectionFailed)
        #expect(error.description.contains("password authentication failed"))
        #expect(!error.description.contains("wr0ng-S3cret-value"))
    }

    @Test("an unreachable server fails with connectionFailed and no password in the message")
    func unreachable() async throws {
        let error = try await #require(throws: PGError.self) {
            try await PGConnection.connect("postgres://someone:Hunter2-secret@127.0.0.1:1/db?connect_timeout=3")
        }
        #expect(error.code == .connectionFailed)
        #expect(!error.description.contains("Hunter2-secret"))
    }
}

/// A tiny JSON value for checking jsonb round trips.
enum JSONValue: Decodable, Equatable {
    case int(Int)
    case string(String)
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .string(try c.decode(String.self)) }
    }
}
