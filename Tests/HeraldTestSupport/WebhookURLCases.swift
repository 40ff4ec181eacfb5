/// The URLs both `WebhookURL` and the `webhook_url_problem` SQL function are checked against (the
/// integration suite runs the SQL side over the same table).
public enum WebhookURLCases {
    /// URLs Herald sends to.
    public static let accepted = [
        "http://127.0.0.1:8080/x", "https://example.com/hooks", "HTTPS://Example.com/hooks", "Http://a/", "http://a",
        "http://[::1]:8080/x", "http://[2001:db8::1]/x", "http://a:1/", "http://a:65535/", "https://a/?q=1#f",
        "http://exämple.com/x",
    ]
    /// URLs refused, with a word the reason must contain.
    public static let refused: [(url: String, reason: String)] = [
        ("http://127.0.0.1:99999/x", "port"), ("http://127.0.0.1:65536/x", "port"), ("http://127.0.0.1:0/x", "port"),
        ("http://127.0.0.1:-1/x", "port"), ("http://127.0.0.1:abc/x", "port"), ("http://a:/x", "port"),
        ("http://:80/x", "host"), ("http:///x", "host"), ("http://[::1/x", "brackets"), ("http://::1]/x", "host"),
        ("http://a]b/x", "brackets"), ("http://[example.com]/x", "IPv6"), ("http://[::1]x/", "port"),
        ("ftp://a/x", "http"), ("gopher://x", "http"), ("example.com/x", "http"), ("http//a/x", "http"),
        ("http://user:pw@a/x", "user:password"), ("http://a b/x", "spaces"), ("http://a/\nx", "control"),
        ("http://a/" + String(repeating: "x", count: 2048), "2048"),
    ]
}
