import Foundation
import Herald
import Testing

@Suite("RetryAfter: parsing an endpoint's header")
struct RetryAfterTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    @Test("non-ASCII or over-long values are malformed, never handed to DateFormatter (it trapped on this one)")
    func hostileValues() {
        let found = String(decoding: [0x53, 0x75, 0x20, 0x4E, 0x6F, 0x76, 0x20, 0x36, 0x20, 0x38, 0x3A, 0x34, 0x39, 0x3A, 0xCD, 0x90, 0x89, 0xDE, 0x37, 0x20, 0x37, 0x20, 0x34], as: UTF8.self)
        #expect(RetryAfter.parse(found, now: now) == nil)
        #expect(RetryAfter.parse("١٢٣", now: now) == nil)
        #expect(RetryAfter.parse(String(repeating: "1", count: 65), now: now) == nil)
        #expect(RetryAfter.parse("12\u{7}", now: now) == nil)
    }

    @Test("the two forms still parse")
    func forms() {
        #expect(RetryAfter.parse("120", now: now) == .seconds(120))
        #expect(RetryAfter.parse(" 5 ", now: now) == .seconds(5))
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: now) == .seconds(0))
    }
}
