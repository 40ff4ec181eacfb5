/// The webhook URL checks of the `webhook_url_problem` SQL function (migrations/0009), in Swift.
///
/// Why a mirror: the command line refuses a bad `--url` as an invalid argument (exit 64) before it
/// connects, with the same reason the database gives. The SQL function stays the source of truth for
/// every producer; `EnqueueInputTests` runs both over one table of URLs so the two cannot drift apart.
public enum WebhookURLCheck {
    /// Why Herald will not send to `url`, or nil when it will.
    public static func problem(_ url: String) -> String? {
        if url.unicodeScalars.count > 2048 { return "it is longer than 2048 characters" }
        if url.unicodeScalars.contains(where: isSpaceOrControl) { return "it contains spaces or control characters" }
        guard let separator = url.range(of: "://") else { return "only absolute http:// or https:// URLs are sent" }
        let scheme = url[..<separator.lowerBound]
        guard isScheme(scheme), ["http", "https"].contains(scheme.lowercased()) else {
            return "only absolute http:// or https:// URLs are sent"
        }
        let afterScheme = url[separator.upperBound...]
        let authority = afterScheme.prefix { !"/?#".contains($0) }
        if authority.contains("@") { return "user:password in URLs is refused (it would be stored and logged)" }
        let bracketProblem = "the IPv6 address must be written in balanced brackets, e.g. http://[::1]:8080/"
        let host: Substring
        if authority.hasPrefix("[") {
            let inside = authority.dropFirst().prefix { $0.isASCII && ($0.isHexDigit || $0 == ":" || $0 == ".") }
            let end = authority.index(authority.startIndex, offsetBy: 1 + inside.count)
            guard end < authority.endIndex, authority[end] == "]" else { return bracketProblem }
            host = authority[...end]
            guard inside.contains(":") else { return "the host in brackets is not an IPv6 address" }
        } else {
            host = authority.prefix { $0 != ":" }
        }
        if host.isEmpty { return "the host is missing" }
        if !host.hasPrefix("["), host.contains(where: { $0 == "[" || $0 == "]" }) { return bracketProblem }
        let port = authority.dropFirst(host.count)
        if port.isEmpty { return nil }
        guard port.hasPrefix(":") else { return "only a :port may follow the host" }
        let digits = port.dropFirst()
        guard (1...5).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(digits),
            (1...65535).contains(value)
        else {
            return "the port \"\(digits.prefix(20))\" is not a number from 1 to 65535"
        }
        return nil
    }

    /// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`, as RFC 3986 and the SQL pattern define a scheme.
    private static func isScheme(_ text: Substring) -> Bool {
        guard let first = text.first, first.isASCII, first.isLetter else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }
    }

    /// PostgreSQL's `[[:space:][:cntrl:]]` for the characters a URL can hold.
    private static func isSpaceOrControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F || scalar.properties.isWhitespace || (0x80...0x9F).contains(scalar.value)
    }
}
