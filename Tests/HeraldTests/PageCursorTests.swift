@testable import HeraldAPI
import Herald
import Testing

@Suite("Page cursors and tokens")
struct PageCursorTests {
    @Test("a cursor decodes to its key for its own list only")
    func roundTrip() throws {
        let cursor = PageCursor(list: "deliveries", key: "42").encoded
        #expect(try PageCursor.decodeID(cursor, list: "deliveries") == 42)
        #expect(throws: APIProblem.self) { try PageCursor.decodeID(cursor, list: "messages") }
        #expect(throws: APIProblem.self) { try PageCursor.decode("%%%", list: "deliveries") }
        #expect(try PageCursor.decode(nil, list: "deliveries") == nil)
    }

    @Test("limit defaults to 50 and is refused outside 1-250 with field limit", arguments: [0, 251, -1])
    func limits(_ bad: Int) throws {
        #expect(try PageCursor.limit(nil) == 50)
        #expect(try PageCursor.limit(250) == 250)
        let problem = #expect(throws: APIProblem.self) { try PageCursor.limit(bad) }
        #expect(problem?.field == "limit")
        #expect(problem?.status.code == 422)
    }

    @Test("a token parses back with its id; anything else is refused before the database")
    func tokens() {
        var rng = SystemRandomNumberGenerator()
        let token = APIToken.generate(using: &rng)
        #expect(token.text.hasPrefix("hrld_"))
        #expect(APIToken(parsing: token.text)?.id == token.id)
        #expect(APIToken(parsing: token.text)?.sha256 == token.sha256)
        #expect(!token.description.contains(String(token.text.suffix(20))), "description never shows the secret")
        for bad in ["", "hrld_", "hrld_abc_def", "Bearer x", token.text + "_x", "xrld_" + token.text.dropFirst(5)] {
            #expect(APIToken(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test("hash comparison: equal only when every byte is")
    func constantTimeEqual() {
        #expect(APIToken.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!APIToken.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!APIToken.constantTimeEqual([1, 2, 3], [1, 2]))
    }
}
