internal import Foundation

/// Which IP addresses Herald may send to: the SSRF guard's rules, as a pure value.
///
/// By default only globally routable addresses are allowed: loopback, private (RFC 1918), carrier-grade
/// NAT, link-local (169.254.169.254, the cloud metadata service), unique-local, multicast, documentation
/// and other special-purpose ranges are refused, so a webhook URL cannot make Herald reach the network it
/// runs in. `--allow-private-networks` turns the guard off (tests, demos, internal receivers).
public struct AddressPolicy: Sendable, Hashable {
    /// Whether non-global addresses are allowed.
    public var allowPrivateNetworks: Bool

    public init(allowPrivateNetworks: Bool) { self.allowPrivateNetworks = allowPrivateNetworks }

    /// Why `address` (dotted IPv4 or IPv6 text) is refused, or nil when it is allowed.
    public func refusal(for address: String) -> String? {
        guard !allowPrivateNetworks else { return nil }
        if let v4 = Self.parseIPv4(address) { return Self.refusal(v4: v4).map { "\(address) is \($0)" } }
        if let v6 = Self.parseIPv6(address) { return Self.refusal(v6: v6).map { "\(address) is \($0)" } }
        return "\(address) is not an IP address"
    }

    static func refusal(v4 a: UInt32) -> String? {
        func inNet(_ net: UInt32, _ bits: Int) -> Bool { bits == 0 || (a >> UInt32(32 - bits)) == (net >> UInt32(32 - bits)) }
        let rules: [(UInt32, Int, String)] = [
            (0x0000_0000, 8, "a \"this network\" address"), (0x0A00_0000, 8, "a private address"),
            (0x6440_0000, 10, "a carrier-grade NAT address"), (0x7F00_0000, 8, "a loopback address"),
            (0xA9FE_0000, 16, "a link-local address"), (0xAC10_0000, 12, "a private address"),
            (0xC000_0000, 24, "an IETF protocol address"), (0xC000_0200, 24, "a documentation address"),
            (0xC0A8_0000, 16, "a private address"), (0xC612_0000, 15, "a benchmarking address"),
            (0xC633_6400, 24, "a documentation address"), (0xCB00_7100, 24, "a documentation address"),
            (0xE000_0000, 4, "a multicast address"), (0xF000_0000, 4, "a reserved address"),
        ]
        return rules.first { inNet($0.0, $0.1) }?.2
    }

    static func refusal(v6 b: [UInt8]) -> String? {
        if b.allSatisfy({ $0 == 0 }) { return "the unspecified address" }
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return "a loopback address" }
        // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) carry an IPv4 address: judge that.
        let v4 = UInt32(b[12]) << 24 | UInt32(b[13]) << 16 | UInt32(b[14]) << 8 | UInt32(b[15])
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF { return refusal(v4: v4) }
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B && b[4..<12].allSatisfy({ $0 == 0 }) { return refusal(v4: v4) }
        if b[0] & 0xFE == 0xFC { return "a unique-local address" }
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return "a link-local address" }
        if b[0] == 0xFF { return "a multicast address" }
        if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8 { return "a documentation address" }
        if b[0] == 0x01 && b[1..<8].allSatisfy({ $0 == 0 }) { return "a discard-only address" }
        if b[0..<12].allSatisfy({ $0 == 0 }) { return "an IPv4-compatible address" }
        return nil
    }

    /// Canonical `a.b.c.d` → 32 bits, or nil.
    ///
    /// Only the canonical form: four decimal parts of 0…255 without leading zeros. Resolvers read the other
    /// forms their own way (`inet_aton` takes `012` as octal 10, `127.1` as 127.0.0.1, `0x7f…` as hex), so a
    /// lenient reading here would check one address and let the system connect to another.
    public static func parseIPv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            let digits = part.utf8
            guard (1...3).contains(digits.count), digits.allSatisfy({ (48...57).contains($0) }) else { return nil }
            guard digits.count == 1 || digits.first != UInt8(ascii: "0"), let n = UInt32(part), n <= 255 else { return nil }
            value = value << 8 | n
        }
        return value
    }

    /// 32 bits → `a.b.c.d`.
    public static func formatIPv4(_ v4: UInt32) -> String {
        "\(v4 >> 24).\((v4 >> 16) & 0xFF).\((v4 >> 8) & 0xFF).\(v4 & 0xFF)"
    }

    /// 16 bytes → RFC 5952 text: lower-case hex, leading zeros dropped, the longest run of two or more zero
    /// groups (the first, on a tie) written `::`.
    public static func formatIPv6(_ bytes: [UInt8]) -> String {
        guard bytes.count == 16 else { return "" }
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        var best: Range<Int>?
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else { index += 1; continue }
            var end = index
            while end < 8, groups[end] == 0 { end += 1 }
            if end - index >= 2, end - index > (best?.count ?? 0) { best = index..<end }
            index = end
        }
        func hex(_ range: Range<Int>) -> String { range.map { String(groups[$0], radix: 16) }.joined(separator: ":") }
        guard let best else { return hex(0..<8) }
        return hex(0..<best.lowerBound) + "::" + hex(best.upperBound..<8)
    }

    /// IPv6 text (with `::` and an optional trailing dotted IPv4) → 16 bytes, or nil.
    public static func parseIPv6(_ text: String) -> [UInt8]? {
        var text = Substring(text)
        if let zone = text.firstIndex(of: "%") { text = text[..<zone] }
        guard text.contains(":") else { return nil }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String) -> [UInt16]? {
            guard !s.isEmpty else { return [] }
            var out: [UInt16] = []
            let pieces = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, piece) in pieces.enumerated() {
                if i == pieces.count - 1, piece.contains("."), let v4 = parseIPv4(String(piece)) {
                    out.append(UInt16(v4 >> 16))
                    out.append(UInt16(v4 & 0xFFFF))
                } else {
                    guard (1...4).contains(piece.utf8.count), piece.utf8.allSatisfy({ isHexByte($0) }), let g = UInt16(piece, radix: 16) else {
                        return nil
                    }
                    out.append(g)
                }
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        let tail = halves.count == 2 ? groups(halves[1]) : []
        guard let tail else { return nil }
        let all: [UInt16]
        if halves.count == 2 {
            guard head.count + tail.count <= 7 else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard head.count == 8 else { return nil }
            all = head
        }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    private static func isHexByte(_ b: UInt8) -> Bool { (48...57).contains(b) || (97...102).contains(b) || (65...70).contains(b) }
}
