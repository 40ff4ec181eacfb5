import HeraldTestSupport
import PGDriver
import Testing

@Suite("The longest accepted schema name still enqueues and notifies")
struct SchemaChannelTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    @Test("a 54-byte schema: migrate, enqueue, and the enqueue notification arrives")
    func longestName() async throws {
        let schema = String(repeating: "s", count: 40) + "_" + String(repeating: "0", count: 13)
        #expect(schema.utf8.count == 54)
        let migrated = try await HeraldBinary.run(["migrate", "--schema", schema], environment: ["DATABASE_URL": pg.url])
        #expect(migrated.status == 0, "\(migrated.stderr)")
        let listener = try await pg.connect()
        try await listener.listen("\(schema).enqueued")
        let conn = try await pg.connect()
        try await conn.query("SELECT \(unescaped: schema).enqueue('https://hook.example/x', '\\x7b7d'::bytea)")
        var notes: [PGNotification] = []
        try await Wait.until("the enqueue notification") {
            notes += try await listener.waitForNotifications(timeout: .milliseconds(200))
            return !notes.isEmpty
        }
        #expect(notes.first?.channel == "\(schema).enqueued")
        let longer = try await HeraldBinary.run(["migrate", "--schema", schema + "x"], environment: ["DATABASE_URL": pg.url])
        #expect(longer.status == 64, "\(longer.stderr)")
        #expect(longer.stderr.contains("1-54 characters"))
        try await conn.query("DROP SCHEMA \(unescaped: schema) CASCADE")
        await conn.close()
        await listener.close()
    }
}
