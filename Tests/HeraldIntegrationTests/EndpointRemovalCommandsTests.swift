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
}
