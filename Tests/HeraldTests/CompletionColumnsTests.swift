@testable import Herald
import Testing

/// The worker writes each completion as JSON with ``Completion/columns``; `delivery_complete`
/// (migrations/0033) reads it with a column list of its own. A column added on one side only would be dropped
/// or read as NULL without an error.
@Suite("Completion columns")
struct CompletionColumnsTests {
    @Test("delivery_complete reads exactly the columns the worker writes")
    func columnsAgree() throws {
        let normalize = { (text: Substring) in text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        let migration = try #require(EmbeddedMigrations.files.first { $0.name.hasPrefix("0033_") })
        let sql = migration.sql
        let start = try #require(sql.range(of: "jsonb_to_recordset(p_completions) AS x("))
        let end = try #require(sql[start.upperBound...].range(of: ")\n"))
        #expect(normalize(sql[start.upperBound..<end.lowerBound]) == normalize(Completion.columns[...]))
    }
}
