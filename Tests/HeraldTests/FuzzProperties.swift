import Foundation

@testable import Herald

/// What must hold for any input to the parsers and writers that see outside data; shared by the libFuzzer
/// targets (`make fuzz`, linked into Fuzz/ by a symlink) and by ``FuzzCorpusTests``, which replays the
/// committed seed corpus and every crash the fuzzer found. A property that fails traps, as libFuzzer needs.
enum FuzzProperties {
    /// The targets, by name: each is a directory under `Fuzz/corpus/`.
    static let targets: [String: @Sendable ([UInt8]) -> Void] = [
        "url": url, "address": address, "retry-after": retryAfter, "duration": duration, "header": header, "json": json,
    ]

    /// A parsed URL re-parses to itself from its normalised text, and its port and host are in range.
    static func url(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let parsed = try? WebhookURL(text) else { return }
        check((1...65535).contains(parsed.port), "port out of range for \(text.debugDescription)")
        check(!parsed.hostText.isEmpty, "empty host for \(text.debugDescription)")
        check((try? WebhookURL(parsed.normalized)) == parsed, "normalised form does not re-parse to itself: \(text.debugDescription)")
        check(URL(string: parsed.normalized) != nil, "Foundation cannot parse the normalised form of \(text.debugDescription)")
        _ = AddressPolicy(allowPrivateNetworks: false).refusal(for: parsed.hostText)
    }

    /// Address text that parses formats canonically, and the canonical text parses back to the same bits.
    static func address(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let v4 = AddressPolicy.parseIPv4(text) {
            check(AddressPolicy.formatIPv4(v4) == text, "non-canonical IPv4 accepted: \(text.debugDescription)")
        }
        if let v6 = AddressPolicy.parseIPv6(text) {
            check(v6.count == 16, "IPv6 of \(v6.count) bytes from \(text.debugDescription)")
            check(AddressPolicy.parseIPv6(AddressPolicy.formatIPv6(v6)) == v6, "IPv6 round trip failed for \(text.debugDescription)")
        }
        _ = AddressPolicy(allowPrivateNetworks: false).refusal(for: text)
        _ = HTTPSender.canonicalAddress(text)
    }

    /// Any header value yields no wait or a non-negative one.
    static func retryAfter(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let wait = RetryAfter.parse(text, now: Date(timeIntervalSince1970: 1_790_000_000)) {
            check(wait >= .zero, "negative Retry-After wait from \(text.debugDescription)")
        }
    }

    /// Any duration text parses to a non-negative duration or throws.
    static func duration(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let parsed = try? DurationText.parse(text, name: "--fuzz") {
            check(parsed >= .zero, "negative duration from \(text.debugDescription)")
        }
    }

    /// A header the check accepts cannot split a request.
    static func header(_ bytes: [UInt8]) {
        let split = bytes.firstIndex(of: 0x3A) ?? bytes.count
        let name = String(decoding: bytes[..<split], as: UTF8.self)
        let value = String(decoding: bytes[min(split + 1, bytes.count)...], as: UTF8.self)
        if HeaderCheck.problem(name: name, value: value) == nil {
            check(!name.contains(":") && !(name + value).contains("\r") && !(name + value).contains("\n"), "accepted a header that splits")
        }
        _ = CredentialHeaders.redacted([name: value])
    }

    /// What the writer produces is JSON that decodes to what was written (NUL read as U+FFFD).
    static func json(_ bytes: [UInt8]) {
        let split = bytes.firstIndex(of: 0) ?? bytes.count
        let name = String(decoding: bytes[..<split], as: UTF8.self)
        let value = String(decoding: bytes[min(split + 1, bytes.count)...], as: UTF8.self)
        var writer = JSONObjectWriter()
        writer.field(name, value)
        writer.field("map", [value: name])
        writer.field("n", Int64(bytes.count))
        guard let decoded = try? JSONSerialization.jsonObject(with: Data(writer.object.utf8)) as? [String: Any] else {
            check(false, "the writer produced invalid JSON for \(bytes)")
            return
        }
        // By scalar: `replacingOccurrences` matches whole characters, and a NUL followed by a combining
        // mark is one character, so it missed that NUL (found by `make fuzz`, kept in the corpus).
        // Foundation's parser, the oracle here, drops a byte-order mark (U+FEFF) at the start of a string
        // and right after an escape sequence, key or value; the writer writes it as is (it escapes ASCII
        // only), and PostgreSQL's `jsonb`, which reads what the writer writes, keeps it. So U+FEFF is left
        // out of the comparison (found by `make fuzz`: U+FEFF then two quotes; a quote, U+FEFF, a quote).
        let clean = { (s: String) in
            String(String.UnicodeScalarView(s.unicodeScalars.compactMap { $0 == "\u{FEFF}" ? nil : $0 == "\u{0}" ? "\u{FFFD}" : $0 }))
        }
        let read = Dictionary(decoded.map { (clean($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
        if clean(name) != "map", clean(name) != "n" {
            check(
                (read[clean(name)] as? String).map(clean) == clean(value), "a string did not round-trip through the writer: \(bytes)")
        }
    }

    static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("fuzz property failed: \(message())") }
    }
}
