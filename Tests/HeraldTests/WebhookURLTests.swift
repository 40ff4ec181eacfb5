import Herald
import Testing

@Suite("WebhookURL: the sender's parser of stored URLs")
struct WebhookURLTests {
    @Test("bad URLs are refused with a reason, never trapped on", arguments: [
        ("http://127.0.0.1:99999/x", "outside 1-65535"), ("http://example.com:0/", "outside 1-65535"),
        ("http://example.com:abc/", "not a number"), ("http://example.com:-1/", "not a number"),
        ("http://example.com:123456789012345678901234567890/", "outside 1-65535"),
        ("http:///path", "no host"), ("http://:80/", "no host"), ("https://", "no host"),
        ("http://[::1/x", "unbalanced"), ("http://::1]/x", "unbalanced"), ("http://[[::1]]/", "unbalanced"),
        ("http://[::1]x/", "after the bracketed host"), ("http://[fe80::1%25eth0]/", "zone"), ("http://[nonsense]/", "not an IPv6"),
        ("ftp://example.com/", "unsupported scheme"), ("javascript:alert(1)", "no scheme"), ("example.com/x", "no scheme"),
        ("http://exa mple.com/", "space"), ("http://user:pw@example.com/", "user information"),
        ("http://exa%6dple.com/", "characters other than"), ("http://a..b/", "empty or over-long label"),
        ("http://012.0.0.1/", "canonical IPv4"), ("http://127.1/", "canonical IPv4"), ("http://0x7f.0.0.1/", "canonical IPv4"),
        ("http://2130706433/", "canonical IPv4"), ("http://0x7f000001/", "canonical IPv4"), ("http://1.2.3.04/", "canonical IPv4"),
        ("http://256.1.1.1/", "canonical IPv4"), ("http://[::ffff:012.0.0.1]/", "not an IPv6"),
    ])
    func refused(_ text: String, _ words: String) {
        #expect(throws: WebhookURL.Invalid.self) { try WebhookURL(text) }
        do {
            _ = try WebhookURL(text)
        } catch {
            #expect(error.reason.contains(words), "\(text): \(error.reason)")
        }
    }

    @Test("good URLs parse to their parts, normalised", arguments: [
        ("HTTPS://Example.COM/hook?x=1#frag", "https://example.com/hook?x=1", 443, false),
        ("http://example.com", "http://example.com/", 80, false),
        ("http://example.com.:8080/a", "http://example.com:8080/a", 8080, false),
        ("http://127.0.0.1:9/x", "http://127.0.0.1:9/x", 9, true),
        ("http://[2001:DB8:0:0:0:0:0:1]:65535/", "http://[2001:db8::1]:65535/", 65535, true),
        ("http://[::ffff:10.0.0.1]/", "http://[::ffff:a00:1]/", 80, true),
        ("http://hook.example/caf\u{e9}", "http://hook.example/caf%C3%A9", 80, false),
        ("http://my_host-1.internal:1/", "http://my_host-1.internal:1/", 1, false),
    ])
    func parsed(_ text: String, _ normalized: String, _ port: Int, _ literal: Bool) throws {
        let url = try WebhookURL(text)
        #expect(url.normalized == normalized)
        #expect(url.port == port)
        #expect(url.isAddressLiteral == literal)
    }
}
