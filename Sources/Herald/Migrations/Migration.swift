public import Foundation
internal import Crypto

/// One numbered SQL file from `migrations/` (`0001_initial.sql`).
///
/// The checksum is the SHA-256 of the file's bytes: a file edited after it was applied somewhere is
/// detected instead of silently diverging from the databases that ran the old text.
public struct Migration: Sendable, Hashable {
    /// The number before the first `_`; migrations run in ascending order.
    public let version: Int
    /// The file name without `.sql`, e.g. `0001_initial`.
    public let name: String
    /// The SQL text, run as one script in one transaction.
    public let sql: String
    /// Lower-case hex SHA-256 of `sql`'s UTF-8 bytes.
    public let checksum: String

    /// Parses a file name such as `0001_initial.sql`.
    /// - Throws: ``HeraldError/Code/migration`` for a name without a leading number.
    public init(fileName: String, sql: String) throws {
        guard fileName.hasSuffix(".sql") else {
            throw HeraldError(.migration, "migration file \(fileName) must end in .sql")
        }
        let name = String(fileName.dropLast(4))
        let digits = name.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, name.dropFirst(digits.count).first == "_", let version = Int(digits) else {
            throw HeraldError(.migration, "migration file \(fileName) must be named NNNN_description.sql")
        }
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The migrations compiled into this binary, in order.
    ///
    /// Why embedded: an installed binary (a container image) has no `migrations/` folder beside it. A unit
    /// test fails if this copy and the files in `migrations/` differ; `make embed-migrations` refreshes it.
    public static let embedded: [Migration] = {
        let all = EmbeddedMigrations.files.map { file in
            // The files are checked by tests at build time; a bad name here is a programming error.
            try! Migration(fileName: file.name, sql: file.sql)
        }
        return all.sorted { $0.version < $1.version }
    }()

    /// Reads and orders every `*.sql` file of a folder (for tests and development).
    public static func load(from directory: URL) throws -> [Migration] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }
        let migrations = try names.map { name in
            try Migration(fileName: name, sql: String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8))
        }
        let versions = Dictionary(grouping: migrations, by: \.version)
        if let duplicate = versions.first(where: { $0.value.count > 1 }) {
            throw HeraldError(.migration, "two migration files have version \(duplicate.key)")
        }
        return migrations.sorted { $0.version < $1.version }
    }
}
