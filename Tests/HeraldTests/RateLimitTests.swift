import Testing

@testable import Herald

@Suite("Rate limit parsing")
struct RateLimitTests {
    @Test("per second and per minute, stored per minute", arguments: [
        ("50/s", 3000), ("50/sec", 3000), ("1/m", 1), ("300/min", 300), ("7/MIN", 7), (" 2 / s ", 120),
    ] as [(String, Int)])
    func parses(text: String, perMinute: Int) throws {
        #expect(try RateLimit(parsing: text).perMinute == perMinute)
    }

    @Test("anything else is refused", arguments: ["50", "0/s", "-1/s", "5/h", "x/s", "50/s/s", "", "1e3/s", "100001/s"])
    func refuses(text: String) {
        #expect(throws: HeraldError.self) { try RateLimit(parsing: text) }
    }

    @Test("burst and the one-second bound", arguments: [
        ("50/s", 5, 55), ("1/s", 1, 2), ("1/min", 1, 2), ("300/min", 1, 6), ("1000/s", 100, 1100),
    ] as [(String, Int, Int)])
    func bounds(text: String, burst: Int, bound: Int) throws {
        let limit = try RateLimit(parsing: text)
        #expect(limit.burst == burst)
        #expect(limit.perSecondBound == bound)
    }

    @Test("described as the operator wrote it")
    func describes() throws {
        #expect(try RateLimit(parsing: "3000/min").description == "50/s")
        #expect(try RateLimit(parsing: "7/min").description == "7/min")
    }
}
