import Foundation
import PGDriver

extension TestPostgres {
    /// Migrates a fresh schema with the `herald migrate` binary and returns its name and a connection.
    public func migratedSchema(_ prefix: String = "h") async throws -> (schema: String, connection: PGConnection) {
        let schema = TestPostgres.uniqueSchema(prefix)
        let result = try await HeraldBinary.run(["migrate", "--schema", schema], environment: ["DATABASE_URL": url])
        guard result.status == 0 else { throw TestSupportError("herald migrate failed: \(result.stderr)") }
        return (schema, try await connect())
    }
}

extension PGConnection {
    /// Runs a query returning one integer column named `n`.
    public func count(_ query: PGQuery) async throws -> Int {
        try await self.query(query).first?.decode("n", as: Int.self) ?? -1
    }
}

extension PGConnection {
    /// Queues `count` deliveries to `url` on `schema` in one statement, bodies `{"n":1}` … `{"n":count}`.
    public func enqueueMany(schema: String, url: String, count: Int) async throws {
        try await query(
            "SELECT \(unescaped: schema).enqueue(\(url), convert_to('{\"n\":' || g || '}', 'UTF8')) FROM generate_series(1, \(count)) g")
    }
}
