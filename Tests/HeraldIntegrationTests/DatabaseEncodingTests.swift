import Foundation
import HeraldTestSupport
import PGDriver
import Testing

@Suite("herald migrate refuses a database that is not UTF8")
struct DatabaseEncodingTests {
    @Test("a SQL_ASCII database is refused with a clear message, and nothing is created")
    func refusesSQLASCII() async throws {
        let pg = try await TestPostgres.shared()
        let admin = try await pg.connect()
        let name = TestPostgres.uniqueSchema("ascii")
        try await admin.query(
            PGQuery(sql: "CREATE DATABASE \(name) ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"))
        var url = try #require(URLComponents(string: pg.url))
        url.path = "/\(name)"
        let result = try await HeraldBinary.run(["migrate", "--schema", "herald"], environment: ["DATABASE_URL": url.string!])
        #expect(result.status != 0)
        #expect(result.stderr.contains("encoding SQL_ASCII"), "\(result.stderr)")
        #expect(result.stderr.contains("UTF8"))
        let other = try await PGConnection.connect(url.string!)
        #expect(try await other.count("SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'herald'") == 0)
        await other.close()
        try await admin.query(PGQuery(sql: "DROP DATABASE \(name)"))
        await admin.close()
    }
}
