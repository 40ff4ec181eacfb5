import Foundation
import Herald
import Testing

@Suite("Migration files")
struct MigrationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("the migrations compiled into the binary are exactly the files in migrations/")
    func embeddedMatchesFiles() throws {
        let files = try Migration.load(from: Self.repository.appendingPathComponent("migrations"))
        #expect(!files.isEmpty)
        #expect(
            Migration.embedded == files,
            "Sources/Herald/Migrations/EmbeddedMigrations.swift is stale: run `make embed-migrations`")
    }

    @Test("file names give the version and name; the checksum is SHA-256 of the text")
    func parsing() throws {
        let m = try Migration(fileName: "0042_add_things.sql", sql: "abc")
        #expect(m.version == 42)
        #expect(m.name == "0042_add_things")
        #expect(m.checksum == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("badly named files are refused", arguments: ["init.sql", "0001init.sql", "0001_x.txt", "_0001.sql"])
    func badNames(_ name: String) {
        #expect(throws: HeraldError.self) { try Migration(fileName: name, sql: "") }
    }

    @Test("versions are ascending and unique")
    func ordering() {
        let versions = Migration.embedded.map(\.version)
        #expect(versions == versions.sorted())
        #expect(Set(versions).count == versions.count)
        #expect(versions.first == 1)
    }
}
