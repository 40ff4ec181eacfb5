import Foundation
import Testing

@testable import PGDriver

@Suite("PGDriver values, without a database")
struct PGValueTests {
    @Test("interpolated values become numbered parameters, never SQL text")
    func interpolation() {
        let evil = "'; DROP TABLE x; --"
        let q: PGQuery = "SELECT * FROM t WHERE a = \(evil) AND b = \(42) AND c = \(Optional<Int>.none)"
        #expect(q.sql == "SELECT * FROM t WHERE a = $1 AND b = $2 AND c = $3")
        #expect(q.binds == [.text(evil), .text("42"), .null])
        #expect(!q.description.contains("DROP"))
        let raw: PGQuery = "SELECT 1 FROM \(unescaped: "herald.deliveries")"
        #expect(raw.sql == "SELECT 1 FROM herald.deliveries")
        #expect(raw.binds.isEmpty)
    }

    @Test("a NUL in a text parameter is refused before sending (libpq would cut the value there); bytes may hold one")
    func nulInText() {
        let error = #expect(throws: PGError.self) {
            try PGConnection.refuseNUL(in: ["SELECT \(1)", "SELECT \(1), \("a\u{0}b")"])
        }
        #expect(error?.sqlState == "22021" && error?.message.contains("parameter $2") == true, "\(String(describing: error))")
        #expect(throws: Never.self) { try PGConnection.refuseNUL(in: ["SELECT \([UInt8]([0x61, 0x00, 0x62]))", "SELECT \("ab")"]) }
    }

    @Test("timestamps parse in every ISO form PostgreSQL prints, and format round-trips")
    func timestamps() throws {
        let base = Date(timeIntervalSince1970: 1_794_997_600)
        #expect(PGTimestamp.parse("2026-11-18 10:26:40+00") == base)
        #expect(PGTimestamp.parse("2026-11-18 12:26:40+02") == base)
        #expect(PGTimestamp.parse("2026-11-18 05:56:40-04:30") == base)
        #expect(PGTimestamp.parse("2026-11-18T10:26:40Z") == base)
        let precise = try #require(PGTimestamp.parse("2026-11-18 10:26:40.000123+00"))
        #expect(abs(precise.timeIntervalSince(base) - 0.000123) < 1e-6)
        #expect(PGTimestamp.parse("not a date") == nil)
        #expect(PGTimestamp.parse("1969-12-31 23:59:59+00") == Date(timeIntervalSince1970: -1))
        for seconds in [0.0, -86_400.5, 1_795_000_000.654321, 4_102_444_800.000001] {
            let date = Date(timeIntervalSince1970: seconds)
            let back = try #require(PGTimestamp.parse(PGTimestamp.format(date)))
            #expect(abs(back.timeIntervalSince1970 - seconds) < 0.000_001)
        }
    }

    @Test("bytea hex text decodes to the exact bytes")
    func bytea() throws {
        #expect(try [UInt8](pgText: "\\x00ff7F", typeOID: 17) == [0, 255, 127])
        #expect(try [UInt8](pgText: "\\x", typeOID: 17) == [])
        #expect(throws: PGError.self) { try [UInt8](pgText: "\\x0", typeOID: 17) }
        #expect(throws: PGError.self) { try [UInt8](pgText: "abc", typeOID: 17) }
    }

    @Test("redaction hides passwords given, in URIs and in key=value strings")
    func redaction() {
        let message = "could not connect to postgres://bob:s3cret@db:5432/x with password=s3cret and password='two words'"
        let out = PGError.redact(message, secrets: ["s3cret"])
        #expect(!out.contains("s3cret"))
        #expect(!out.contains("two words"))
        #expect(out.contains("postgres://bob:***@db:5432/x"))
    }

    @Test("error descriptions name the SQLSTATE")
    func errorDescription() {
        let e = PGError(.server, message: "duplicate key value", sqlState: "23505")
        #expect(e.description == "PostgreSQL error 23505: duplicate key value")
        #expect(e.isUniqueViolation)
        #expect(PGError(.server, message: "", sqlState: "57P01").isConnectionProblem)
        #expect(!e.isConnectionProblem)
    }
}
