import Foundation
import HeraldTestSupport
import PGDriver
import Testing

/// `herald endpoints test` and `herald endpoints delete`: the CLI side of migration 0016.
@Suite("endpoints test and delete commands")
struct EndpointRemovalCommandsTests {
    @Test("test queues one delivery (--json ids; a bad --type is 64); delete hides the endpoint, a second delete is 1, enqueue registers the URL afresh")
    func testAndDelete() async throws {
        let pg = try await TestPostgres.shared()
        let (schema, connection) = try await pg.migratedSchema("epcmd")
        func herald(_ arguments: [String]) async throws -> HeraldBinary.Result {
            try await HeraldBinary.run(arguments + ["--schema", schema], environment: ["DATABASE_URL": pg.url])
        }
        let added = try await herald(["endpoints", "add", "--url", "https://x.example/h"])
        #expect(added.status == 0, "\(added.stderr)")
        let queued = try await herald(["endpoints", "test", "1", "--json"])
        #expect(queued.status == 0, "\(queued.stderr)")
        let ids = try JSONSerialization.jsonObject(with: Data(queued.stdout.utf8)) as? [String: Any]
        #expect(ids?["endpoint_id"] as? Int == 1 && ids?["delivery_id"] is Int && ids?["message_id"] is Int, "\(queued.stdout)")
        let bad = try await herald(["endpoints", "test", "1", "--type", "bad type"])
        #expect(bad.status == 64 && bad.stderr.contains("invalid event type"), "\(bad.stderr)")

        let deleted = try await herald(["endpoints", "delete", "https://x.example/h"])
        #expect(deleted.status == 0 && deleted.stdout.contains("endpoint 1 deleted"), "\(deleted.stdout) \(deleted.stderr)")
        let again = try await herald(["endpoints", "delete", "1"])
        #expect(again.status == 1 && again.stderr.contains("no endpoint"), "\(again.stderr)")
        let list = try await herald(["endpoints", "list"])
        #expect(!list.stdout.contains("x.example"), "\(list.stdout)")
        let enqueued = try await herald(["enqueue", "--url", "https://x.example/h", "--data", "{}"])
        #expect(enqueued.status == 0, "\(enqueued.stderr)")
        let endpoints = try await connection.query(
            "SELECT id, deleted_at IS NOT NULL AS deleted FROM \(unescaped: schema).endpoints ORDER BY id").rows
        #expect(try endpoints.map { try $0.decode("deleted", as: Bool.self) } == [true, false], "a new endpoint for the URL")
        await connection.close()
    }

    @Test("a deleted endpoint leaves endpoint_health, and its dead deliveries are not replayed (they would only fail again)")
    func deletedEndpointIsGoneForOperators() async throws {
        let pg = try await TestPostgres.shared()
        let (schema, connection) = try await pg.migratedSchema("epdel")
        func herald(_ arguments: [String]) async throws -> HeraldBinary.Result {
            try await HeraldBinary.run(arguments + ["--schema", schema], environment: ["DATABASE_URL": pg.url])
        }
        #expect(try await herald(["endpoints", "add", "--url", "https://gone.example/h"]).status == 0)
        #expect(try await herald(["endpoints", "add", "--url", "https://kept.example/h"]).status == 0)
        for url in ["https://gone.example/h", "https://kept.example/h"] {
            try await connection.query("SELECT \(unescaped: schema).enqueue(\(url), '{}'::bytea)")
        }
        try await connection.query("UPDATE \(unescaped: schema).deliveries SET state = 'dead', finished_at = now()")
        #expect(try await herald(["endpoints", "delete", "https://gone.example/h"]).status == 0)

        let health = try await connection.query("SELECT url FROM \(unescaped: schema).endpoint_health ORDER BY url").rows
        #expect(try health.map { try $0.decode("url", as: String.self) } == ["https://kept.example/h"])
        let replay = try await herald(["deliveries", "replay", "1", "2"])
        #expect(replay.stdout.contains("its endpoint was deleted") || replay.stderr.contains("its endpoint was deleted"), "\(replay.stdout) \(replay.stderr)")
        let states = try await connection.query(
            "SELECT e.url, d.state FROM \(unescaped: schema).deliveries d JOIN \(unescaped: schema).endpoints e ON e.id = d.endpoint_id ORDER BY e.url").rows
        #expect(try states.map { try $0.decode("state", as: String.self) } == ["dead", "pending"], "only the live endpoint's delivery is replayed")
        await connection.close()
    }
}
