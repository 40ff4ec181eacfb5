import Foundation
import HeraldTestSupport
import PGDriver
import Testing

/// What README promises, measured.
@Suite("Docs match behaviour")
struct DocsMatchBehaviourTests {
    let pg: TestPostgres
    init() async throws { pg = try await TestPostgres.shared() }

    static let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("README.md")

    @Test("a worker holds --concurrency connections plus the number README says, without --metrics-port")
    func connectionCount() async throws {
        let text = try String(contentsOf: Self.readme, encoding: .utf8).replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "   ", with: " ")
        let words = ["one": 1, "two": 2, "three": 3, "four": 4, "five": 5]
        let match = try #require(text.firstMatch(of: /`--concurrency` connections plus (\w+)/), "README states the connection count")
        let extra = try #require(words[String(match.output.1)], "README says \(match.output.1)")

        let receiver = try await TestReceiver.start()
        let (schema, conn) = try await pg.migratedSchema("docs")
        // Every connection of this one worker carries this name (the connection string's wins).
        let name = "docs-\(UInt32.random(in: 0...UInt32.max))"
        let url = pg.url + (pg.url.contains("?") ? "&" : "?") + "application_name=\(name)"
        try await conn.query("SELECT \(unescaped: schema).enqueue(\(receiver.url("/c")), '\\x7b7d'::bytea)")
        let worker = try HeraldProcess(
            ["worker", "--schema", schema, "--concurrency", "2", "--allow-private-networks"], environment: ["DATABASE_URL": url])
        func count() async throws -> Int {
            try await conn.count("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = \(name)")
        }
        // The journal connects at the first send; the sampler at its first sample.
        try await Wait.until("the delivery") { receiver.requests(path: "/c").count == 1 }
        try await Wait.until("2 + \(extra) connections (now \(try await count()))") { try await count() == 2 + extra }
        #expect(try await count() == 2 + extra)
        worker.signal(SIGTERM)
        _ = try await worker.waitForExit()
        await receiver.stop()
        await conn.close()
    }
}
