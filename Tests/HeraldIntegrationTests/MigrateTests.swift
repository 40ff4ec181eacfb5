import Foundation
import Herald
import HeraldTestSupport
import PGDriver
import Testing

@Suite("herald migrate against a real PostgreSQL")
struct MigrateTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    func tables(in schema: String, _ conn: PGConnection) async throws -> Set<String> {
        Set(
            try await conn.query("SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = \(schema)")
                .rows.map { try $0.decode("t", as: String.self) })
    }

    @Test("the first run creates the tables, the second does nothing and says so, --status lists them")
    func migrateTwice() async throws {
        let schema = TestPostgres.uniqueSchema("mig")
        let env = ["DATABASE_URL": pg.url]
        let first = try await HeraldBinary.run(["migrate", "--schema", schema], environment: env)
        #expect(first.status == 0, "stderr: \(first.stderr)")
        #expect(first.stdout.contains("applied 0001_initial"))
        let conn = try await pg.connect()
        let created = try await tables(in: schema, conn)
        #expect(created.isSuperset(of: ["deliveries", "circuit_breakers", "attempts", "endpoints", "schema_migrations"]))

        let second = try await HeraldBinary.run(["migrate", "--schema", schema], environment: env)
        #expect(second.status == 0)
        #expect(second.stdout.contains("is up to date"))
        #expect(second.stdout.contains("nothing to do"))

        let status = try await HeraldBinary.run(["migrate", "--status", "--schema", schema], environment: env)
        #expect(status.status == 0)
        #expect(status.stdout.contains("applied  0001_initial"))
        #expect(status.stdout.contains("0 pending"))
        await conn.close()
    }

    @Test("--status on an empty schema lists every migration as pending and changes nothing")
    func statusPending() async throws {
        let schema = TestPostgres.uniqueSchema("mig")
        let result = try await HeraldBinary.run(["migrate", "--status", "--schema", schema], environment: ["DATABASE_URL": pg.url])
        #expect(result.status == 0)
        #expect(result.stdout.contains("pending  0001_initial"))
        let conn = try await pg.connect()
        #expect(try await tables(in: schema, conn).isEmpty)
        await conn.close()
    }

    @Test("a pending migration is applied after the ones already there; --status shows it pending first")
    func pendingThenApplied() async throws {
        let schema = try SchemaName(TestPostgres.uniqueSchema("mig"))
        let conn = try await pg.connect()
        let extra = try Migration(fileName: "9001_extra.sql", sql: "CREATE TABLE extra (id int PRIMARY KEY);")
        let base = Migrator(connection: conn, schema: schema)
        _ = try await base.migrate()
        let withExtra = Migrator(connection: conn, schema: schema, migrations: Migration.embedded + [extra])
        let before = try await withExtra.status()
        #expect(before.last?.name == "9001_extra")
        #expect(before.last?.state == .pending)
        let report = try await withExtra.migrate()
        #expect(report.applied.map(\.name) == ["9001_extra"])
        #expect(try await tables(in: schema.rawValue, conn).contains("extra"))
        await conn.close()
    }

    @Test("an applied migration whose file changed is an error, and nothing more is applied")
    func changedChecksum() async throws {
        let schema = try SchemaName(TestPostgres.uniqueSchema("mig"))
        let conn = try await pg.connect()
        _ = try await Migrator(connection: conn, schema: schema).migrate()
        var files = Migration.embedded
        files[0] = try Migration(fileName: "0001_initial.sql", sql: files[0].sql + "\n-- edited\n")
        let later = try Migration(fileName: "9002_later.sql", sql: "CREATE TABLE later (id int PRIMARY KEY);")
        let error = await #expect(throws: HeraldError.self) {
            try await Migrator(connection: conn, schema: schema, migrations: files + [later]).migrate()
        }
        #expect(error?.code == .migration)
        #expect(error?.message.contains("0001_initial was changed") == true)
        #expect(try await !tables(in: schema.rawValue, conn).contains("later"))
        await conn.close()
    }

    @Test("a failing migration is rolled back whole and reported")
    func failingMigration() async throws {
        let schema = try SchemaName(TestPostgres.uniqueSchema("mig"))
        let conn = try await pg.connect()
        let bad = try Migration(fileName: "9003_bad.sql", sql: "CREATE TABLE half (id int); SELECT 1/0;")
        let error = await #expect(throws: HeraldError.self) {
            try await Migrator(connection: conn, schema: schema, migrations: Migration.embedded + [bad]).migrate()
        }
        #expect(error?.message.contains("9003_bad failed") == true)
        let present = try await tables(in: schema.rawValue, conn)
        #expect(present.contains("deliveries"))
        #expect(!present.contains("half"))
        await conn.close()
    }

    @Test("several herald migrate processes at once all exit 0 and apply each migration once")
    func concurrentProcesses() async throws {
        let schema = TestPostgres.uniqueSchema("mig")
        let env = ["DATABASE_URL": pg.url]
        let results = try await withThrowingTaskGroup(of: HeraldBinary.Result.self) { group in
            for _ in 0..<4 { group.addTask { try await HeraldBinary.run(["migrate", "--schema", schema], environment: env) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for r in results { #expect(r.status == 0, "stderr: \(r.stderr)") }
        #expect(results.filter { $0.stdout.contains("applied 0001_initial") }.count == 1)
        let conn = try await pg.connect()
        let rows = try await conn.query(
            PGQuery(sql: "SELECT version, count(*)::int AS n FROM \(schema).schema_migrations GROUP BY version"))
        #expect(rows.count == Migration.embedded.count)
        #expect(try rows.rows.allSatisfy { try $0.decode("n", as: Int.self) == 1 })
        await conn.close()
    }

    @Test("an unsafe --schema is refused before any SQL runs")
    func unsafeSchema() async throws {
        // The URL points nowhere: had herald tried to connect, the error would be about the connection.
        let result = try await HeraldBinary.run(
            ["migrate", "--schema", "x; drop table y", "--database-url", "postgres://nobody@127.0.0.1:1/none"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("invalid schema name"))
        #expect(!result.stderr.contains("connect"))
    }

    @Test("a wrong password or an unreachable host gives one line on stderr, no password, exit 1")
    func connectionFailures() async throws {
        _ = try await pg.passwordRole()
        var wrong = try #require(URLComponents(string: pg.url))
        wrong.user = "pw_user"
        wrong.password = "Wr0ngPassw0rd"
        let unreachable = "postgres://app:Sup3rS3cret@127.0.0.1:1/db"
        for (url, secret) in [(wrong.string!, "Wr0ngPassw0rd"), (unreachable, "Sup3rS3cret")] {
            let result = try await HeraldBinary.run(["migrate", "--database-url", url])
            #expect(result.status == 1)
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "stderr: \(result.stderr)")
            #expect(result.stderr.hasPrefix("herald: cannot connect to PostgreSQL"))
            #expect(!result.stderr.contains(secret))
            #expect(!result.stdout.contains(secret))
        }
    }
}
