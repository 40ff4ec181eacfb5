import Herald
import Testing

@Suite("HeaderCheck: outgoing header fields")
struct HeaderCheckTests {
    @Test("bad names and values are refused with a reason", arguments: [
        ("", "v"), ("X Bad", "v"), ("X:Colon", "v"), ("Ünï", "v"), (String(repeating: "x", count: 257), "v"),
        ("X-Ok", "a\r\nX-Injected: 1"), ("X-Ok", "nul\u{0}byte"), ("X-Ok", "bell\u{7}"), ("X-Ok", "del\u{7F}"),
    ])
    func refused(_ name: String, _ value: String) {
        #expect(HeaderCheck.problem(name: name, value: value) != nil)
    }

    @Test("values longer than 8 KiB are refused")
    func tooLong() {
        #expect(HeaderCheck.problem(name: "X-Ok", value: String(repeating: "v", count: 8193)) != nil)
        #expect(HeaderCheck.problem(name: "X-Ok", value: String(repeating: "v", count: 8192)) == nil)
    }

    @Test("ordinary headers pass", arguments: [
        ("Authorization", "Bearer abc.def"), ("X-Tab", "a\tb"), ("X-Empty", ""), ("x-custom_1!#$%&'*+.^`|~", "ünïcødé ok"),
    ])
    func allowed(_ name: String, _ value: String) {
        #expect(HeaderCheck.problem(name: name, value: value) == nil)
    }
}
