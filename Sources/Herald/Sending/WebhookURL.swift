/// A stored webhook URL, parsed and checked before anything is sent: the sender's only view of a URL.
///
/// Why a parser of its own: URLs reach the worker from the database, written by any producer, and a bad one
/// must become a permanent failure with a reason, never a crash (a port of 99999 used to reach
/// `SocketAddress(ipAddress:port:)` inside the HTTP client and trap every worker) and never a request to
/// somewhere other than what the SSRF guard checked. So the rules are strict and ours:
///
/// - scheme `http` or `https`, any case;
/// - a host: a DNS name (labels of letters, digits, `-` and `_`, at most 253 bytes), a canonical dotted-quad
///   IPv4 address, or an IPv6 address in balanced brackets without a zone;
/// - a host that ends in a number but is not a canonical dotted quad (`012.0.0.1`, `127.1`, `0x7f.0.0.1`,
///   `2130706433`) is refused: resolvers read such forms differently (`012` is octal 10 to `inet_aton`), so
///   no single reading can be checked and then trusted;
/// - a port of 1…65535 when one is given;
/// - no user information (`user:pass@`): credentials belong in headers, which are redacted in the log.
///
/// The fragment is dropped (it is never sent), and bytes outside ASCII in the path are percent-encoded.
public struct WebhookURL: Sendable, Hashable, CustomStringConvertible {
    /// The two schemes Herald sends to.
    public enum Scheme: String, Sendable, Hashable {
        case http, https
        var defaultPort: Int { self == .http ? 80 : 443 }
    }

    /// What the host part names.
    public enum Host: Sendable, Hashable {
        /// A DNS name, lower-cased, without a trailing dot.
        case name(String)
        /// An IPv4 address.
        case ipv4(UInt32)
        /// An IPv6 address, 16 bytes.
        case ipv6([UInt8])
    }

    /// Why a URL was refused: a sentence for the attempt log.
    public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    public let scheme: Scheme
    public let host: Host
    /// The port to connect to: the one given, or the scheme's default.
    public let port: Int
    /// Whether the URL named the port.
    public let hasExplicitPort: Bool
    /// Path and query, starting with `/`.
    public let target: String

    /// Parses `text`, or throws ``Invalid`` saying what is wrong.
    public init(_ text: String) throws(Invalid) {
        func invalid(_ reason: String) -> Invalid { Invalid(reason: reason) }
        guard text.utf8.count <= 8192 else { throw invalid("the URL is longer than 8192 bytes") }
        guard !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
            throw invalid("the URL contains a space or a control character")
        }
        // Bytes outside ASCII are percent-encoded before any delimiter is looked for: Swift compares
        // characters (grapheme clusters), and a `#`, `/` or `:` followed by a combining mark is not that
        // character, so `#\u{30F}` hid a fragment that reappeared, encoded, on a second parse (found by
        // `make fuzz`, kept in Fuzz/corpus/url). A host outside ASCII is then refused as before.
        let text = Self.percentEncodingNonASCII(text)
        guard let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://") else {
            throw invalid("the URL has no scheme (expected http:// or https://)")
        }
        guard let scheme = Scheme(rawValue: text[..<colon].lowercased()) else {
            throw invalid("unsupported scheme \(String(text[..<colon].prefix(16)).debugDescription): only http and https")
        }
        var rest = text[text.index(colon, offsetBy: 3)...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let tail = rest[authorityEnd...]
        guard !authority.contains("@") else { throw invalid("the URL carries user information (user@host): send credentials in a header") }

        var hostText: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw invalid("unbalanced brackets in the host") }
            hostText = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            guard !hostText.contains("["), !after.contains("["), !after.contains("]") else { throw invalid("unbalanced brackets in the host") }
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected text after the bracketed host") }
                portText = after.dropFirst()
            }
        } else {
            guard !authority.contains("["), !authority.contains("]") else { throw invalid("unbalanced brackets in the host") }
            if let last = authority.lastIndex(of: ":") {
                hostText = authority[..<last]
                portText = authority[authority.index(after: last)...]
            } else {
                hostText = authority
            }
        }
        guard !hostText.isEmpty else { throw invalid("the URL has no host") }

        if let portText, !portText.isEmpty {
            guard portText.utf8.allSatisfy({ (48...57).contains($0) }) else {
                throw invalid("the port \(String(portText.prefix(16)).debugDescription) is not a number")
            }
            guard portText.utf8.count <= 5, let port = Int(portText), (1...65535).contains(port) else {
                throw invalid("the port \(String(portText.prefix(16))) is outside 1-65535")
            }
            self.port = port
            hasExplicitPort = true
        } else {
            port = scheme.defaultPort
            hasExplicitPort = false
        }

        if authority.hasPrefix("[") {
            guard !hostText.contains("%") else { throw invalid("IPv6 zone identifiers are not allowed in a webhook URL") }
            guard let bytes = AddressPolicy.parseIPv6(String(hostText)) else {
                throw invalid("\(String(hostText.prefix(64)).debugDescription) is not an IPv6 address")
            }
            host = .ipv6(bytes)
        } else {
            host = try Self.parseHost(hostText)
        }
        self.scheme = scheme
        target = Self.encodedTarget(tail)
    }

    private static func parseHost(_ raw: Substring) throws(Invalid) -> Host {
        var name = raw.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { throw Invalid(reason: "the host name is empty or longer than 253 bytes") }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard (1...63).contains(label.utf8.count) else { throw Invalid(reason: "the host \(String(name.prefix(64)).debugDescription) has an empty or over-long label") }
            guard label.utf8.allSatisfy({ isNameByte($0) }) else {
                throw Invalid(reason: "the host \(String(name.prefix(64)).debugDescription) has characters other than letters, digits, - and _")
            }
        }
        // "Ends in a number" (as the WHATWG URL standard puts it): an address, not a name.
        let last = labels[labels.count - 1]
        let numeric = last.utf8.allSatisfy { (48...57).contains($0) } || (last.hasPrefix("0x") && last.dropFirst(2).allSatisfy(\.isHexDigit))
        guard numeric else { return .name(name) }
        guard let v4 = AddressPolicy.parseIPv4(name) else {
            throw Invalid(
                reason: "\(String(name.prefix(64)).debugDescription) is not a canonical IPv4 address (leading zeros, hex, "
                    + "fewer than four parts or one big number are read differently by different resolvers): write a.b.c.d")
        }
        return .ipv4(v4)
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        (97...122).contains(b) || (48...57).contains(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
    }

    /// Path and query with a leading `/` (already ASCII: see ``percentEncodingNonASCII(_:)``).
    private static func encodedTarget(_ tail: Substring) -> String {
        (tail.hasPrefix("/") ? "" : "/") + tail
    }

    /// `text` with every byte outside ASCII percent-encoded (`é` → `%C3%A9`).
    static func percentEncodingNonASCII(_ text: String) -> String {
        guard !text.utf8.allSatisfy({ $0 < 0x80 }) else { return text }
        var out = ""
        for byte in text.utf8 {
            if byte < 0x80 {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// The host as text: the name, the dotted quad, or canonical IPv6 (RFC 5952) without brackets.
    public var hostText: String {
        switch host {
        case .name(let name): return name
        case .ipv4(let v4): return AddressPolicy.formatIPv4(v4)
        case .ipv6(let bytes): return AddressPolicy.formatIPv6(bytes)
        }
    }

    /// Whether the host is an IP address (then it is connected to as written, with no lookup).
    public var isAddressLiteral: Bool {
        if case .name = host { return false }
        return true
    }

    /// The URL rebuilt from the checked parts: what the HTTP client is given, so it parses what was checked.
    public var normalized: String {
        let hostPart: String
        if case .ipv6 = host { hostPart = "[\(hostText)]" } else { hostPart = hostText }
        return "\(scheme.rawValue)://\(hostPart)\(hasExplicitPort ? ":\(port)" : "")\(target)"
    }

    public var description: String { normalized }
}
